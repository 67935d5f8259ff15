// Inline SVG sparklines. Gaps in the samples (no data for more than three typical steps)
// break the line, so missing telemetry is never drawn as a smooth trend; samples whose
// quality is not "good" are drawn as red dots.

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export function sparkline(samples, { width = 240, height = 32, stale = false, label = "" } = {}) {
  const root = svg("svg", {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    class: "spark" + (stale ? " spark-stale" : ""),
    role: "img",
  });
  const pts = (samples || [])
    .map((s) => ({ t: new Date(s.ts).getTime(), v: Number(s.value), q: s.quality }))
    .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v))
    .sort((a, b) => a.t - b.t);
  const title = svg("title", {});
  root.append(title);
  if (pts.length < 2) {
    title.textContent = `${label}: not enough history for a trend`;
    const text = svg("text", { x: 4, y: height / 2 + 4, class: "spark-empty" });
    text.textContent = "no history";
    root.append(text);
    return root;
  }
  const t0 = pts[0].t;
  const t1 = pts[pts.length - 1].t;
  let lo = Math.min(...pts.map((p) => p.v));
  let hi = Math.max(...pts.map((p) => p.v));
  if (hi - lo < 1e-9) {
    lo -= 1;
    hi += 1;
  }
  const pad = 2;
  const x = (t) => pad + ((t - t0) / Math.max(t1 - t0, 1)) * (width - 2 * pad);
  const y = (v) => height - pad - ((v - lo) / (hi - lo)) * (height - 2 * pad);

  const steps = pts.slice(1).map((p, i) => p.t - pts[i].t).sort((a, b) => a - b);
  const typical = steps[Math.floor(steps.length / 2)] || 1;
  let d = "";
  let gaps = 0;
  pts.forEach((p, i) => {
    const gap = i > 0 && p.t - pts[i - 1].t > 3 * typical;
    if (gap) gaps += 1;
    d += `${i === 0 || gap ? "M" : "L"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
  });
  root.append(svg("path", { d, class: "spark-line", fill: "none" }));
  const bad = pts.filter((p) => p.q && p.q !== "good");
  for (const p of bad) {
    root.append(svg("circle", { cx: x(p.t), cy: y(p.v), r: 2.5, class: "spark-bad" }));
  }
  const last = pts[pts.length - 1];
  root.append(
    svg("circle", { cx: x(last.t), cy: y(last.v), r: 2.5, class: stale ? "spark-bad" : "spark-last" }),
  );
  const span = Math.round((t1 - t0) / 60000);
  title.textContent =
    `${label}: ${pts.length} samples over ${span} min, min ${lo.toFixed(1)}, max ${hi.toFixed(1)}` +
    (gaps ? `; ${gaps} gap(s) in the data` : "") +
    (bad.length ? `; ${bad.length} sample(s) not good quality` : "");
  return root;
}
