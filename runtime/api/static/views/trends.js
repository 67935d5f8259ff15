// Trends from the historian: one point over 1 h to 7 days, with time and value axes, the
// unit, the peak-shaving target and transformer rating on the feeder import, and for a
// battery its setpoints (verified dispatches) as a step line against what it measured.
import { get, query } from "../api.js";
import { errorBox, h, num } from "../dom.js";

const NS = "http://www.w3.org/2000/svg";
const RANGES = [["60", "1 h"], ["360", "6 h"], ["1440", "24 h"], ["10080", "7 days"]];
const W = 1000;
const H = 320;
const M = { l: 70, r: 20, t: 20, b: 40 };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// "Nice" axis ticks (1, 2, 5 x 10^n) between lo and hi. Pure.
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((x) => x >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

export function chart({ samples, unit, label, lines = [], steps = [], fromMs, toMs }) {
  const values = samples.map((x) => Number(x.value)).concat(lines.map((l) => l.value), steps.map((x) => x.value));
  const finite = values.filter(Number.isFinite);
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (hi === lo) { hi += 1; lo -= 1; }
  const pad = (hi - lo) * 0.08;
  lo -= pad; hi += pad;
  const x = (ms) => M.l + ((ms - fromMs) / (toMs - fromMs)) * (W - M.l - M.r);
  const y = (v) => H - M.b - ((v - lo) / (hi - lo)) * (H - M.t - M.b);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "trend", role: "img", "aria-label": `${label} trend` },
    s("title", {}, `${label} (${unit})`));
  for (const v of ticks(lo, hi)) {
    svg.append(s("line", { x1: M.l, x2: W - M.r, y1: y(v), y2: y(v), class: "grid-line" }),
      s("text", { x: M.l - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, num(v, 1)));
  }
  const span = toMs - fromMs;
  for (let i = 0; i <= 6; i++) {
    const t = fromMs + (span * i) / 6;
    const d = new Date(t).toISOString();
    const text = span > 36 * 3600e3 ? `${d.slice(5, 10)} ${d.slice(11, 16)}` : d.slice(11, 16);
    svg.append(s("text", { x: x(t), y: H - M.b + 16, "text-anchor": "middle", class: "axis" }, text));
  }
  svg.append(s("text", { x: 14, y: M.t + 10, class: "axis unit" }, unit || ""),
    s("text", { x: W - M.r, y: H - 4, "text-anchor": "end", class: "axis" }, "UTC"),
    s("line", { x1: M.l, x2: M.l, y1: M.t, y2: H - M.b, class: "axis-line" }),
    s("line", { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b, class: "axis-line" }));
  for (const l of lines) {
    svg.append(s("line", { x1: M.l, x2: W - M.r, y1: y(l.value), y2: y(l.value), class: `limit ${l.kind}` }),
      s("text", { x: W - M.r - 4, y: y(l.value) - 4, "text-anchor": "end", class: `limit-label ${l.kind}` }, `${l.label} ${num(l.value, 0)} ${unit}`));
  }
  // a gap longer than three usual sample intervals breaks the line (no data there)
  const times = samples.map((p) => new Date(p.ts).getTime());
  const dts = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
  const usual = dts.length ? dts[Math.floor(dts.length / 2)] : span;
  const gapMs = Math.max(3 * usual, span / 200);
  let d = "";
  let prev = null;
  for (const p of samples) {
    const t = new Date(p.ts).getTime();
    const v = Number(p.value);
    if (!Number.isFinite(v)) { prev = null; continue; }
    d += `${prev === null || t - prev > gapMs ? "M" : "L"}${x(t).toFixed(1)},${y(v).toFixed(1)} `;
    prev = t;
  }
  svg.append(s("path", { d, class: "trend-line actual" }));
  if (steps.length) {
    let sd = "";
    steps.forEach((st, i) => {
      const t = Math.max(new Date(st.ts).getTime(), fromMs);
      sd += `${i === 0 ? "M" : "H"}${x(t).toFixed(1)}${i === 0 ? `,${y(st.value).toFixed(1)}` : ` V${y(st.value).toFixed(1)}`} `;
    });
    sd += `H${x(toMs).toFixed(1)}`;
    svg.append(s("path", { d: sd, class: "trend-line setpoint" }));
  }
  const over = lines.length ? samples.filter((p) => lines.some((l) => l.kind === "threshold" && Number(p.value) > l.value)).length : 0;
  svg.dataset.over = String(over);
  return svg;
}

export async function renderTrends(main, ctx) {
  const point = h("select", { id: "trend-point", "aria-label": "point" });
  const range = h("select", { id: "trend-range", "aria-label": "time range" },
    RANGES.map(([v, t]) => h("option", { value: v }, t)));
  const holder = h("div", { id: "trend-holder" });
  const note = h("p", { class: "muted small", id: "trend-note" });
  main.append(h("h1", {}, "Trends"),
    h("div", { class: "toolbar" }, h("label", { for: "trend-point" }, "Point "), point,
      h("label", { for: "trend-range" }, " Range "), range),
    holder, note);
  let state;
  let net = null;
  try {
    state = await get("/api/state");
  } catch (err) {
    holder.replaceChildren(errorBox(`Trends unavailable: ${err.detail || err}`));
    return;
  }
  try {
    net = await get("/api/network");
  } catch {
    net = null; // no network model: no target and rating lines
  }
  const points = (state.points || []).map((p) => p.point).sort();
  point.replaceChildren(...points.map((p) => h("option", { value: p }, p)));
  const meterPoint = net?.meter ? `${net.meter}.p_kw` : points.find((p) => p.startsWith("substation"));
  if (meterPoint && points.includes(meterPoint)) point.value = meterPoint;

  let seq = 0;
  async function draw() {
    const mine = ++seq; // a slower, older draw never overwrites a newer one
    const minutes = Number(range.value);
    const p = point.value;
    const unit = (state.points || []).find((x) => x.point === p)?.unit || "";
    let samples = [];
    let source = "historian";
    try {
      const r = await get(query("/api/state/history", { point: p, minutes }));
      samples = r.samples || [];
    } catch (err) {
      source = `unavailable (${err.detail || err})`;
    }
    const now = await get("/api/state").then((r) => r.now).catch(() => new Date().toISOString());
    const toMs = new Date(now).getTime();
    const fromMs = toMs - minutes * 60e3;
    const lines = [];
    if (net && p === meterPoint) {
      if (net.threshold_kw !== undefined) lines.push({ value: net.threshold_kw, label: "peak-shaving target", kind: "threshold" });
      if (net.transformer_rating_kw !== undefined) lines.push({ value: net.transformer_rating_kw, label: "transformer rating", kind: "limit" });
    }
    let steps = [];
    const asset = p.split(".")[0];
    if (p.endsWith(".p_kw")) {
      try {
        const ds = await get("/api/dispatches?limit=500");
        steps = ds.filter((d) => d.asset === asset && d.state === "verified" && d.value_kw !== null)
          .map((d) => ({ ts: d.updated, value: d.value_kw }))
          .sort((a, b) => new Date(a.ts) - new Date(b.ts));
      } catch {
        steps = [];
      }
    }
    if (!ctx.current() || mine !== seq) return;
    holder.replaceChildren(chart({ samples, unit, label: p, lines, steps, fromMs, toMs }));
    note.textContent = `${samples.length} samples from the ${source}; ${steps.length ? "dashed: verified setpoints; " : ""}` +
      "lines: target (amber) and grid limit (red) where they apply. Pick a longer range to zoom out.";
  }
  point.addEventListener("change", draw);
  range.addEventListener("change", draw);
  await draw();
  ctx.every(15000, draw);
}
