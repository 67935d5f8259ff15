// Small DOM and formatting helpers. Text is always set as text (never parsed as HTML):
// event payloads and rationales come from models and devices.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function errorBox(message, { id } = {}) {
  return h("p", { class: "error", role: "alert", id }, message);
}

export function num(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "–";
  return Number(value).toLocaleString("en-GB", {
    minimumFractionDigits: 0,
    maximumFractionDigits: digits,
  });
}

export function kw(value) {
  return value === null || value === undefined ? "–" : `${num(value, 1)} kW`;
}

// Seconds as "2 min 05 s" / "1 h 03 min"; negative values say "ago".
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.abs(Math.round(seconds));
  let text;
  if (s < 60) text = `${s} s`;
  else if (s < 3600) text = `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  else text = `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  return text;
}

export function parseTs(ts) {
  if (!ts) return null;
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? null : d;
}

// Timestamps are shown in UTC, as everywhere in gridaios (logs, CLI, reports).
export function utc(ts) {
  const d = parseTs(ts);
  if (!d) return "–";
  return `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

export function utcTime(ts) {
  const d = parseTs(ts);
  return d ? d.toISOString().slice(11, 19) : "–";
}

export function secondsBetween(a, b) {
  const da = parseTs(a);
  const db = parseTs(b);
  return da && db ? (db.getTime() - da.getTime()) / 1000 : null;
}

export function unitSuffix(unit) {
  return unit ? ` ${unit}` : "";
}

export function shortHash(hash) {
  return hash ? `${String(hash).slice(0, 12)}…` : "–";
}
