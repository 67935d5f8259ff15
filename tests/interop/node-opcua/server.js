// An independent OPC UA server (node-opcua) for gridaios interop tests and benchmarks.
// Usage: node server.js --port N [--fast COUNT] [--secure PKI_DIR]
// Prints "ready <endpoint>" on stdout when listening.
"use strict";
const path = require("path");
const {
  OPCUAServer,
  Variant,
  DataType,
  StatusCodes,
  SecurityPolicy,
  MessageSecurityMode,
  OPCUACertificateManager,
  standardUnits,
} = require("node-opcua");

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main() {
  const port = parseInt(arg("--port", "4840"), 10);
  const fast = parseInt(arg("--fast", "0"), 10);
  const pki = arg("--secure", null);
  const uri = arg("--uri", "urn:gridaios:interop-server");
  const options = {
    port,
    resourcePath: "/gridaios/interop",
    buildInfo: { productName: "gridaios-interop", buildNumber: "1" },
    serverInfo: { applicationUri: uri, productUri: "gridaios-interop" },
    maxConnectionsPerEndpoint: 20,
  };
  if (pki) {
    const serverCertificateManager = new OPCUACertificateManager({
      rootFolder: path.join(pki, "server"),
      automaticallyAcceptUnknownCertificate: false,
    });
    await serverCertificateManager.initialize();
    Object.assign(options, {
      serverCertificateManager,
      certificateFile: path.join(pki, "server_cert.pem"),
      privateKeyFile: path.join(pki, "server_key.pem"),
      securityPolicies: [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes256_Sha256_RsaPss],
      securityModes: [MessageSecurityMode.SignAndEncrypt],
      allowAnonymous: false,
      userManager: { isValidUser: (user, password) => user === "operator" && password === "s3cret" },
    });
  } else {
    Object.assign(options, {
      securityPolicies: [SecurityPolicy.None],
      securityModes: [MessageSecurityMode.None],
    });
  }
  const server = new OPCUAServer(options);
  await server.initialize();
  const addressSpace = server.engine.addressSpace;
  const ns = addressSpace.registerNamespace("urn:gridaios:interop-field");
  const field = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: "Field" });
  const bat = ns.addObject({ componentOf: field, browseName: "bat1" });
  const values = {};
  for (const [name, unit, low, high] of [
    ["soc_pct", standardUnits.percent, 0, 100],
    ["p_kw", standardUnits.kilowatt, -250, 250],
    ["p_setpoint_kw", standardUnits.kilowatt, -250, 250],
  ]) {
    values[name] = ns.addAnalogDataItem({
      componentOf: bat,
      nodeId: `s=bat1.${name}`,
      browseName: name,
      engineeringUnitsRange: { low, high },
      engineeringUnits: unit,
      dataType: "Double",
      accessLevel: "CurrentRead | CurrentWrite",
      userAccessLevel: "CurrentRead | CurrentWrite",
      value: new Variant({ dataType: DataType.Double, value: 0 }),
    });
  }
  for (const name of ["cmd_key", "label"]) {
    values[name] = ns.addVariable({
      componentOf: bat,
      nodeId: `s=bat1.${name}`,
      browseName: name,
      dataType: "String",
      accessLevel: "CurrentRead | CurrentWrite",
      userAccessLevel: "CurrentRead | CurrentWrite",
      value: new Variant({ dataType: DataType.String, value: "" }),
    });
  }
  // A simple device: the SoC drifts so subscriptions see changes.
  let soc = 50;
  setInterval(() => {
    soc = soc >= 95 ? 50 : soc + 0.5;
    values.soc_pct.setValueFromSource(new Variant({ dataType: DataType.Double, value: soc }));
  }, 50);
  // Fast variables for the benchmark, all rewritten every 10 ms.
  if (fast > 0) {
    const vars = [];
    for (let i = 0; i < fast; i++) {
      vars.push(
        ns.addVariable({
          organizedBy: field,
          nodeId: `s=v${i}`,
          browseName: `v${i}`,
          dataType: "Double",
          value: new Variant({ dataType: DataType.Double, value: 0 }),
        })
      );
    }
    let tick = 0;
    setInterval(() => {
      tick += 1;
      const now = new Date();
      for (const v of vars) {
        v.setValueFromSource(new Variant({ dataType: DataType.Double, value: tick }), StatusCodes.Good, now);
      }
    }, 10);
  }
  await server.start();
  console.log(`ready ${server.getEndpointUrl()} ns=${ns.index}`);
  process.on("SIGTERM", async () => {
    await server.shutdown(100);
    process.exit(0);
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
