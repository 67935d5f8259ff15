// Live feeder state: every point the runtime reads, its age and quality, and an hour of history.
import { get, query } from "../api.js";
import { duration, errorBox, h, num, utc } from "../dom.js";
import { sparkline } from "../sparkline.js";
import { linkLost, silenceS } from "../link.js";

// The safety gate refuses decisions on readings older than `safety.max_age_s` (120 s in the
// shipped configs); the console flags them from the same age so operators see it first.
export const STALE_AFTER_S = 120;
const STATE_EVERY_MS = 3000;
const HISTORY_EVERY_MS = 15000;
const HISTORY_MINUTES = 60;
const SEEN_MAX = 1200; // an hour of 3-second refreshes

// `lost`: the console has had no answer from the runtime; every value is then stale, with
// its age counted on (`age_s` is the age when last heard plus the silence since).
export function pointStatus(p, { lost = false } = {}) {
  const quality = p.quality || "unknown";
  if (lost) {
    return { bad: true, stale: true, text: `STALE: runtime unreachable, ${duration(p.age_s)} old` };
  }
  if (quality !== "good") return { bad: true, text: `BAD: ${quality}` };
  if (p.age_s !== null && p.age_s !== undefined && p.age_s > STALE_AFTER_S) {
    return { bad: true, text: `STALE: ${duration(p.age_s)} old` };
  }
  return { bad: false, text: "good" };
}

export async function renderState(main, ctx) {
  const stamp = h("p", { class: "muted", id: "state-now" });
  const body = h("tbody", { id: "state-rows" });
  const error = h("div");
  main.append(
    h("h1", {}, "Feeder state"),
    stamp,
    error,
    h(
      "table",
      { class: "grid", id: "state-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "Point"),
          h("th", { class: "num" }, "Value"),
          h("th", {}, "Unit"),
          h("th", {}, "Quality / age"),
          h("th", {}, "Last reading (UTC)"),
          h("th", {}, `Trend (last ${HISTORY_MINUTES} min)`),
        ),
      ),
      body,
    ),
    h(
      "p",
      { class: "muted small" },
      `Rows in red: the reading is not good quality or older than ${STALE_AFTER_S} s; ` +
        "the safety gate will not act on it. Trends come from the historian, or, without one, " +
        "from what this page has seen since it opened; red dots: samples not good quality; " +
        "breaks: no data. Hover a trend for its range.",
    ),
  );

  const history = new Map(); // point -> samples from the historian
  // Readings this page saw itself (ts, value, quality): the trend when the runtime keeps
  // no historian (the demo), and the quality of each sample the historian does not give.
  const seen = new Map();
  let points = [];

  function remember(p) {
    const list = seen.get(p.point) ?? [];
    if (list.length === 0 || list[list.length - 1].ts !== p.ts) {
      list.push({ ts: p.ts, value: p.value, quality: p.quality });
      if (list.length > SEEN_MAX) list.splice(0, list.length - SEEN_MAX);
    }
    seen.set(p.point, list);
  }

  function trend(point) {
    const stored = history.get(point) ?? [];
    const mine = seen.get(point) ?? [];
    if (stored.length < 2) return { samples: mine, source: "since this page opened" };
    // The historian keeps values; the quality of the samples this page saw is added so
    // a bad reading shows on the trend too.
    const quality = new Map(mine.map((x) => [new Date(x.ts).getTime(), x.quality]));
    const samples = stored.map((x) => ({ ...x, quality: x.quality ?? quality.get(new Date(x.ts).getTime()) }));
    return { samples, source: "historian" };
  }

  function trendCell(p, status) {
    const t = trend(p.point);
    const values = t.samples.map((x) => Number(x.value)).filter(Number.isFinite);
    const unit = p.unit ? ` ${p.unit}` : "";
    return h("div", { class: "spark-cell" },
      sparkline(t.samples, { stale: status.bad, label: `${p.point}${unit ? ` (${p.unit})` : ""}, ${t.source}` }),
      values.length >= 2
        ? h("span", { class: "spark-range", title: `lowest and highest, ${t.source}` },
            `${num(Math.min(...values), 1)} – ${num(Math.max(...values), 1)}${unit}`)
        : null);
  }

  let fetchedAtMs = Date.now();

  // The age ticks with the local clock between refreshes, and goes on ticking when the
  // runtime stops answering (then every row turns stale with its age).
  function aged(p) {
    const extra = (Date.now() - fetchedAtMs) / 1000;
    const base = p.age_s === null || p.age_s === undefined ? null : Number(p.age_s);
    return { ...p, age_s: base === null ? null : base + extra };
  }

  function draw() {
    const lost = linkLost();
    if (lost) {
      const silent = silenceS();
      stamp.textContent = `NO CONTACT with the runtime for ${duration(silent)}: ` +
        "every value below is stale; the ages keep counting.";
      stamp.className = "error";
      stamp.setAttribute("role", "alert");
    }
    body.replaceChildren(
      ...points.map((raw) => {
        const p = aged(raw);
        const status = pointStatus(p, { lost });
        return h(
          "tr",
          { class: status.stale ? "bad stale" : status.bad ? "bad" : "", dataset: { point: p.point } },
          h("td", {}, p.point),
          h("td", { class: "num" }, num(p.value, 2)),
          h("td", {}, p.unit || ""),
          h("td", { class: status.bad ? "flag" : "" }, status.text,
            status.bad ? "" : h("span", { class: "muted" }, ` (${duration(p.age_s)})`)),
          h("td", {}, utc(p.ts)),
          h("td", {}, trendCell(p, status)),
        );
      }),
    );
  }

  async function loadState() {
    try {
      const r = await get("/api/state");
      if (!ctx.current()) return;
      points = (r.points || []).slice().sort((a, b) => a.point.localeCompare(b.point));
      fetchedAtMs = Date.now();
      stamp.className = "muted";
      stamp.removeAttribute("role");
      points.forEach(remember);
      const source = { live: "live from the runtime", historian: "from the historian (no live runtime)", none: "no source" }[r.source] ?? "";
      stamp.textContent = `Site clock ${utc(r.now)}; ${source}; refreshed every ${STATE_EVERY_MS / 1000} s.`;
      error.replaceChildren();
      if (points.length === 0) {
        error.append(h("p", { class: "muted" }, "No live state: the API runs without a conductor, or no reading arrived yet."));
      }
      draw();
    } catch (err) {
      if (!ctx.current()) return;
      error.replaceChildren(errorBox(`Live state unavailable: ${err.detail || err}`));
      draw();
    }
  }

  async function loadHistory() {
    await Promise.all(
      points.map(async (p) => {
        try {
          const r = await get(query("/api/state/history", { point: p.point, minutes: HISTORY_MINUTES }));
          history.set(p.point, r.samples || []);
        } catch {
          history.set(p.point, []);
        }
      }),
    );
    if (ctx.current()) draw();
  }

  await loadState();
  await loadHistory();
  ctx.every(STATE_EVERY_MS, loadState);
  ctx.every(HISTORY_EVERY_MS, loadHistory);
  ctx.every(1000, draw);
}
