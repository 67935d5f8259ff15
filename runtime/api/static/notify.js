// A pending approval that cannot be missed: the tab title and favicon carry the count, and
// when a new request arrives an optional sound plays and a browser notification shows
// (both opt-in from the header, remembered in this browser).

const BASE_TITLE = "gridaios console";
let lastIds = null;

export function titleFor(count) {
  return count > 0 ? `(${count}) approval${count === 1 ? "" : "s"} pending – ${BASE_TITLE}` : BASE_TITLE;
}

// A round badge with the count, drawn on a canvas: no file to fetch, no build step.
export function faviconFor(count) {
  const c = document.createElement("canvas");
  c.width = c.height = 32;
  const g = c.getContext("2d");
  g.fillStyle = count > 0 ? "#b00020" : "#1d2733";
  g.beginPath();
  g.arc(16, 16, 15, 0, 2 * Math.PI);
  g.fill();
  g.fillStyle = "#fff";
  g.font = "bold 20px sans-serif";
  g.textAlign = "center";
  g.textBaseline = "middle";
  g.fillText(count > 0 ? String(Math.min(count, 9)) : "g", 16, 17);
  return c.toDataURL("image/png");
}

export function soundOn() {
  return localStorage.getItem("gridaios.sound") === "on";
}

function beep() {
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.value = 0.15;
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.35);
  } catch {
    // no audio device: the title, favicon and notification still carry it
  }
}

function notifyNew(items) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  for (const a of items) {
    const n = new Notification("gridaios: approval needed", {
      body: `${a.asset}: ${a.value_kw > 0 ? "discharge" : "charge"} ${Math.abs(a.value_kw)} kW — ${a.rationale || ""}`,
      tag: a.dispatch_id,
    });
    n.onclick = () => {
      window.focus();
      location.hash = `#/approvals/${encodeURIComponent(a.dispatch_id)}`;
    };
  }
}

// Called with the pending list on every header refresh.
export function showPending(pending) {
  document.title = titleFor(pending.length);
  const icon = document.querySelector("link[rel=icon]");
  if (icon) icon.href = faviconFor(pending.length);
  const ids = new Set(pending.map((p) => p.dispatch_id));
  if (lastIds !== null) {
    const fresh = pending.filter((p) => !lastIds.has(p.dispatch_id));
    if (fresh.length) {
      if (soundOn()) beep();
      notifyNew(fresh);
    }
  }
  lastIds = ids;
}

// The header's "Alerts" control: sound on/off and browser notifications.
export function alertControls(h) {
  const sound = h("button", { type: "button", id: "sound-toggle", class: "link", "aria-pressed": String(soundOn()) },
    soundOn() ? "Sound on" : "Sound off");
  sound.addEventListener("click", () => {
    localStorage.setItem("gridaios.sound", soundOn() ? "off" : "on");
    sound.textContent = soundOn() ? "Sound on" : "Sound off";
    sound.setAttribute("aria-pressed", String(soundOn()));
    if (soundOn()) beep();
  });
  const canNotify = "Notification" in window;
  const notifyBtn = h("button", { type: "button", id: "notify-toggle", class: "link", hidden: !canNotify },
    canNotify && Notification.permission === "granted" ? "Notifications on" : "Notify me");
  notifyBtn.addEventListener("click", async () => {
    const p = await Notification.requestPermission();
    notifyBtn.textContent = p === "granted" ? "Notifications on" : "Notifications blocked";
  });
  return [sound, notifyBtn];
}
