// gridaios operator console: a hash router over plain ES modules (no build step, no CDN).
import { ApiError, get, onUnauthorized, post } from "./api.js";
import { clear, duration, h } from "./dom.js";
import { linkLost, onLinkChange, silenceS } from "./link.js";
import { alertControls, showPending } from "./notify.js";
import { renderLogin } from "./views/login.js";
import { renderState } from "./views/state.js";
import { renderApprovals } from "./views/approvals.js";
import { renderApproval } from "./views/approval.js";
import { renderDispatches, renderDispatch } from "./views/dispatches.js";
import { renderAudit } from "./views/audit.js";
import { renderShadow } from "./views/shadow.js";
import { renderAlarms } from "./views/alarms.js";
import { renderShift } from "./views/shift.js";
import { renderDiagram } from "./views/diagram.js";
import { renderTrends } from "./views/trends.js";
import { installKeys } from "./keys.js";
import { themeControl } from "./theme.js";
import { renderAsk } from "./views/ask.js";

const main = document.getElementById("main");
const topbar = document.getElementById("topbar");
const banner = document.getElementById("banner");

const session = { user: null, role: null };
let timers = [];
let renderSeq = 0;

const ROUTES = [
  [/^#\/state$/, "state", renderState],
  [/^#\/approvals$/, "approvals", renderApprovals],
  [/^#\/approvals\/([^/]+)$/, "approvals", renderApproval],
  [/^#\/dispatches$/, "dispatches", renderDispatches],
  [/^#\/dispatches\/([^/]+)$/, "dispatches", renderDispatch],
  [/^#\/audit$/, "audit", renderAudit],
  [/^#\/shadow$/, "shadow", renderShadow],
  [/^#\/alarms$/, "alarms", renderAlarms],
  [/^#\/shift$/, "shift", renderShift],
  [/^#\/diagram$/, "diagram", renderDiagram],
  [/^#\/trends$/, "trends", renderTrends],
  [/^#\/ask$/, "ask", renderAsk],
];

function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
}

// The context a view gets: the session, a periodic refresher owned by the route (stopped on
// navigation), and a way to tell whether the view is still the one on screen.
function context(seq) {
  return {
    session,
    every(ms, fn) {
      timers.push(setInterval(() => seq === renderSeq && fn(), ms));
    },
    current: () => seq === renderSeq,
    navigate: (hash) => {
      location.hash = hash;
    },
  };
}

function showBanner(text) {
  banner.textContent = text;
  banner.hidden = !text;
}

async function route() {
  stopTimers();
  showBanner("");
  const seq = ++renderSeq;
  if (!session.user) {
    topbar.hidden = true;
    renderLogin(clear(main), { onLoggedIn: loggedIn });
    return;
  }
  topbar.hidden = false;
  const hash = location.hash || "#/approvals";
  for (const [re, nav, view] of ROUTES) {
    const m = hash.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll("#nav a")) {
      a.classList.toggle("active", a.dataset.view === nav);
    }
    clear(main);
    try {
      await view(main, context(seq), ...m.slice(1).map(decodeURIComponent));
    } catch (err) {
      if (seq !== renderSeq) return;
      const text = err instanceof ApiError ? err.detail : String(err);
      main.append(h("p", { class: "error", role: "alert" }, `Could not load this view: ${text}`));
    }
    return;
  }
  location.hash = "#/approvals";
}

async function loggedIn(me) {
  session.user = me.username;
  session.role = me.role;
  document.getElementById("who").textContent = `${me.username} (${me.role})`;
  if (!location.hash || location.hash === "#/login") location.hash = "#/approvals";
  await route();
  refreshChrome();
}

// Header: health and the count of pending approvals, every 5 s while logged in.
async function refreshChrome() {
  if (!session.user) return;
  const health = document.getElementById("health");
  try {
    const r = await get("/api/health");
    health.textContent = `health ${r.status}`;
    health.className = `health ${r.status === "ok" ? "health-ok" : "health-bad"}`;
    const parts = Object.entries(r.components || {}).map(
      ([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`,
    );
    health.title = parts.join("\n") || "runtime health";
  } catch (err) {
    const silent = silenceS();
    health.textContent = silent === null
      ? "runtime unreachable" : `runtime unreachable (no answer for ${duration(silent)})`;
    health.className = "health health-bad";
    health.title = err.detail || String(err);
  }
  const count = document.getElementById("pending-count");
  try {
    const pending = await get("/api/approvals", { quiet401: true });
    count.textContent = String(pending.length);
    count.hidden = pending.length === 0;
    count.classList.remove("stale");
    count.title = "";
    count.classList.toggle("escalated", pending.some((p) => p.escalated));
    showPending(pending);
    refreshAlarmCount();
  } catch {
    if (linkLost()) {
      // an old count is a lie once the runtime is gone: say it is unknown
      count.textContent = "?";
      count.hidden = false;
      count.classList.add("stale");
      count.title = "unknown: the runtime does not answer";
    }
  }
}

async function refreshAlarmCount() {
  const badge = document.getElementById("alarm-count");
  try {
    const items = await get("/api/alarms", { quiet401: true });
    const open = items.filter((a) => !a.acked).length;
    badge.textContent = String(open);
    badge.hidden = open === 0;
    badge.classList.toggle("escalated", items.some((a) => !a.acked && a.priority === "high"));
  } catch {
    // the alarms view shows errors
  }
}

// Losing the runtime greys the whole page at once (not only a banner), and the header says so.
onLinkChange((lost) => {
  document.body.classList.toggle("link-lost", lost);
  if (lost) refreshChrome();
});

onUnauthorized(() => {
  if (!session.user) return;
  session.user = null;
  session.role = null;
  route().then(() => {
    const form = document.getElementById("login-form");
    form?.prepend(h("p", { class: "error", role: "alert" }, "Your session ended: log in again."));
  });
});

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await post("/api/logout");
  } catch {
    // logged out locally either way
  }
  session.user = null;
  session.role = null;
  location.hash = "#/login";
  route();
});

window.addEventListener("hashchange", route);
document.getElementById("alerts").append(...alertControls(h), themeControl(h));
installKeys();
setInterval(refreshChrome, 5000);

(async function start() {
  try {
    const me = await get("/api/me", { quiet401: true });
    await loggedIn(me);
  } catch {
    route();
  }
})();
