// Single-line diagram of the feeder, drawn as SVG from the network model (GET /api/network):
// buses, lines, the transformer, each asset with its live value and last verified setpoint,
// the feeder import against the peak-shaving target and the transformer rating, and the
// pending plan's effect overlaid (its setpoint, and the lowest voltage the power flow found).
import { get } from "../api.js";
import { errorBox, h, num } from "../dom.js";
import { setpointWords } from "./approval.js";

const NS = "http://www.w3.org/2000/svg";
const DX = 150;
const DY = 90;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// Radial layout: depth from the slack bus to the right, subtrees stacked downwards.
export function layout(net) {
  const kids = new Map(net.buses.map((b) => [b.id, []]));
  const seen = new Set();
  const root = (net.buses.find((b) => b.slack) ?? net.buses[0]).id;
  const adj = new Map(net.buses.map((b) => [b.id, []]));
  for (const br of net.branches) {
    adj.get(br.from)?.push(br.to);
    adj.get(br.to)?.push(br.from);
  }
  const queue = [root];
  seen.add(root);
  while (queue.length) {
    const b = queue.shift();
    for (const n of adj.get(b) ?? []) {
      if (seen.has(n)) continue;
      seen.add(n);
      kids.get(b).push(n);
      queue.push(n);
    }
  }
  const pos = new Map();
  let row = 0;
  (function place(b, depth) {
    const children = kids.get(b);
    if (children.length === 0) {
      pos.set(b, { x: 60 + depth * DX, y: 50 + row * DY });
      row += 1;
      return;
    }
    const first = row;
    children.forEach((c, i) => place(c, depth + (i === 0 ? 1 : 1)));
    pos.set(b, { x: 60 + depth * DX, y: 50 + first * DY });
  })(root, 0);
  return { pos, rows: Math.max(row, 1), depth: Math.max(...[...pos.values()].map((p) => p.x)) };
}

function lastSetpoints(dispatches) {
  const out = new Map();
  for (const d of dispatches) {
    if (d.state === "verified" && !out.has(d.asset)) out.set(d.asset, d.value_kw);
  }
  return out;
}

export async function renderDiagram(main, ctx) {
  const holder = h("div", { id: "sld-holder" });
  const error = h("div");
  main.append(h("h1", {}, "Single-line diagram"), error, holder,
    h("p", { class: "muted small" },
      "Measured values are live (refreshed every 5 s); \"set\" is the last verified setpoint; \"plan\" is a pending request's. " +
      "Bus colours: green within its voltage limits, red outside, grey when no voltage is known (buses are not measured; " +
      "the pending plan's power flow gives the lowest voltage). Feeder import in red above the peak-shaving target, " +
      "bold red above the transformer rating."));
  let net;
  try {
    net = await get("/api/network");
  } catch (err) {
    holder.replaceChildren(errorBox(`No diagram: ${err.detail || err}`, { id: "sld-error" }));
    return;
  }
  const { pos, rows, depth } = layout(net);

  async function draw() {
    let state = { points: [] };
    let dispatches = [];
    let pending = [];
    try {
      [state, dispatches, pending] = await Promise.all([
        get("/api/state"), get("/api/dispatches?limit=200"), get("/api/approvals")]);
    } catch (err) {
      error.replaceChildren(errorBox(`Live values unavailable: ${err.detail || err}`));
    }
    if (!ctx.current()) return;
    let plan = null;
    if (pending.length) {
      try {
        plan = await get(`/api/approvals/${encodeURIComponent(pending[0].dispatch_id)}`);
      } catch {
        plan = null;
      }
    }
    const value = new Map((state.points || []).map((p) => [p.point, p]));
    const setpoints = lastSetpoints(dispatches);
    const planKpis = plan?.grid_report?.kpis?.plan;
    const svg = s("svg", {
      id: "sld", role: "img", "aria-label": `single-line diagram of ${net.name}`,
      viewBox: `0 0 ${depth + 260} ${rows * DY + 90}`, width: "100%",
    }, s("title", {}, `single-line diagram of ${net.name}`));
    for (const br of net.branches) {
      const a = pos.get(br.from);
      const b = pos.get(br.to);
      if (!a || !b) continue;
      const path = `M${a.x},${a.y} H${(a.x + b.x) / 2} V${b.y} H${b.x}`;
      svg.append(s("path", { d: path, class: `sld-branch${br.in_service ? "" : " out"}`, "data-branch": br.id }));
      const mx = (a.x + b.x) / 2;
      if (br.transformer) {
        svg.append(s("circle", { cx: mx - 7, cy: b.y, r: 9, class: "sld-tx" }), s("circle", { cx: mx + 7, cy: b.y, r: 9, class: "sld-tx" }));
        svg.append(s("text", { x: mx, y: b.y - 14, class: "sld-label", "text-anchor": "middle" }, `${br.id} ${num(br.rating_kva, 0)} kVA`));
      } else {
        svg.append(s("text", { x: mx + 4, y: b.y - 5, class: "sld-label small" }, br.id));
      }
    }
    for (const bus of net.buses) {
      const p = pos.get(bus.id);
      if (!p) continue;
      let cls = "unknown";
      let vtext = `limits ${bus.vmin_pu}–${bus.vmax_pu} pu`;
      if (planKpis && planKpis.vmin_bus === bus.id) {
        const v = planKpis.vmin_pu;
        cls = v < bus.vmin_pu || v > bus.vmax_pu ? "bad" : "ok";
        vtext = `plan: ${num(v, 3)} pu (lowest on the feeder); ${vtext}`;
      }
      svg.append(s("g", { class: `sld-bus ${cls}`, "data-bus": bus.id },
        s("title", {}, `${bus.id}, ${bus.base_kv} kV; ${vtext}`),
        s("rect", { x: p.x - 4, y: p.y - 18, width: 8, height: 36 }),
        s("text", { x: p.x, y: p.y + 32, "text-anchor": "middle", class: "sld-label" }, `${bus.id} ${bus.base_kv} kV`)));
    }
    const meter = value.get(`${net.meter}.p_kw`);
    const root = pos.get((net.buses.find((b) => b.slack) ?? net.buses[0]).id);
    if (meter && root) {
      const over = net.threshold_kw !== undefined && meter.value > net.threshold_kw;
      const limit = net.transformer_rating_kw !== undefined && meter.value > net.transformer_rating_kw;
      svg.append(s("text", { x: root.x - 40, y: root.y - 26, id: "sld-import", class: `sld-value${over ? " over" : ""}${limit ? " limit" : ""}` },
        `import ${num(meter.value, 0)} kW (target ${num(net.threshold_kw, 0)}, rating ${num(net.transformer_rating_kw, 0)})`));
    }
    for (const [i, a] of net.assets.entries()) {
      const p = pos.get(a.bus);
      if (!p) continue;
      const y = p.y + 48 + (i % 2) * 0;
      const live = value.get(`${a.id}.p_kw`);
      const lines = [`${a.id} (${a.kind.replace("_", " ")})`];
      if (live) lines.push(`measured ${a.kind === "battery" ? setpointWords("active_power_kw", live.value) : `${num(live.value, 1)} kW`}`);
      if (setpoints.has(a.id)) lines.push(`set ${setpointWords("active_power_kw", setpoints.get(a.id))}`);
      if (plan && plan.asset === a.id) lines.push(`plan ${setpointWords("active_power_kw", plan.value_kw)}`);
      const g = s("g", { class: `sld-asset ${a.kind}`, "data-asset": a.id });
      g.append(s("line", { x1: p.x, y1: p.y + 18, x2: p.x, y2: y - 6, class: "sld-branch" }));
      lines.forEach((t, k) => g.append(s("text", { x: p.x + 8, y: y + k * 14, class: `sld-label${k === lines.length - 1 && t.startsWith("plan") ? " plan" : ""}` }, t)));
      svg.append(g);
    }
    holder.replaceChildren(svg);
  }
  await draw();
  ctx.every(5000, draw);
}
