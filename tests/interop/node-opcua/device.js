// A standard device on node-opcua, in its own namespace, with nothing of gridaios in it:
// no key nodes, a Float setpoint, values reported on change only (an idle battery's power
// and SoC keep their old timestamps).
// Usage: node device.js --port N --role battery|meter [--meter-kw 1500] [--ramp-kw-s 500]
//        [--setpoint-type Float]
// Prints "ready <endpoint> ns=<index>" on stdout when listening.
"use strict";
const {
  OPCUAServer,
  Variant,
  DataType,
  StatusCodes,
  SecurityPolicy,
  MessageSecurityMode,
  standardUnits,
} = require("node-opcua");

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main() {
  const port = parseInt(arg("--port", "4840"), 10);
  const role = arg("--role", "battery");
  const meterKw = parseFloat(arg("--meter-kw", "1500"));
  const rampKwPerS = parseFloat(arg("--ramp-kw-s", "500"));
  // a firmware update may retype the setpoint under the same node id
  const setpointType = arg("--setpoint-type", "Float");
  const server = new OPCUAServer({
    port,
    resourcePath: "/device",
    buildInfo: { productName: `example-${role}`, buildNumber: "7" },
    serverInfo: { applicationUri: `urn:example:${role}`, productUri: `example-${role}` },
    securityPolicies: [SecurityPolicy.None],
    securityModes: [MessageSecurityMode.None],
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace;
  const ns = addressSpace.registerNamespace(`urn:example:${role}`);
  const set = (node, dataType, value) => {
    // report on change: a value that did not change is not set again
    const now = node.readValue().value.value;
    if (now !== value) node.setValueFromSource(new Variant({ dataType, value }), StatusCodes.Good);
  };

  if (role === "meter") {
    const meter = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: "Meter" });
    const p = ns.addAnalogDataItem({
      componentOf: meter,
      nodeId: "s=Meter.ActivePower",
      browseName: "ActivePower",
      engineeringUnitsRange: { low: -5000, high: 5000 },
      engineeringUnits: standardUnits.kilowatt,
      dataType: "Double",
      value: new Variant({ dataType: DataType.Double, value: meterKw }),
    });
    void p;
  } else {
    const bess = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: "BESS1" });
    const analog = (name, dataType, unit, low, high, writable, value) =>
      ns.addAnalogDataItem({
        componentOf: bess,
        nodeId: `s=BESS1.${name}`,
        browseName: name,
        engineeringUnitsRange: { low, high },
        engineeringUnits: unit,
        dataType,
        accessLevel: writable ? "CurrentRead | CurrentWrite" : "CurrentRead",
        userAccessLevel: writable ? "CurrentRead | CurrentWrite" : "CurrentRead",
        value: new Variant({ dataType: DataType[dataType], value }),
      });
    const setpoint = analog("ActivePowerSetpoint", setpointType, standardUnits.kilowatt, -250, 250, true, 0);
    const power = analog("ActivePower", "Float", standardUnits.kilowatt, -250, 250, false, 0);
    const soc = analog("StateOfCharge", "Double", standardUnits.percent, 0, 100, false, 60);
    const limit = analog("MaxDischargePower", "Float", standardUnits.kilowatt, 0, 1000, false, 250);
    void limit;
    ns.addVariable({
      componentOf: bess,
      nodeId: "s=BESS1.OperatingState",
      browseName: "OperatingState",
      dataType: "Int32",
      value: new Variant({ dataType: DataType.Int32, value: 3 }),
    });
    ns.addVariable({
      componentOf: bess,
      nodeId: "s=BESS1.Name",
      browseName: "Name",
      dataType: "String",
      value: new Variant({ dataType: DataType.String, value: "BESS 1" }),
    });
    // The device follows its setpoint with a ramp; SoC integrates (500 kWh, rounded to 0.1 %).
    let pKw = 0;
    let socPct = 60;
    const tickS = 0.1;
    setInterval(() => {
      const target = setpoint.readValue().value.value;
      const step = rampKwPerS * tickS;
      pKw = Math.abs(target - pKw) <= step ? target : pKw + Math.sign(target - pKw) * step;
      socPct = Math.min(100, Math.max(0, socPct - (pKw * tickS) / 3600 / 500 * 100));
      set(power, DataType.Float, Math.fround(pKw));
      set(soc, DataType.Double, Math.round(socPct * 10) / 10);
    }, tickS * 1000);
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
