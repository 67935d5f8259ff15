// Whether the console can still reach its runtime, and since when it cannot.
// Every API answer (api.js) reports here; views read it to age what they show: a value the
// console last heard N seconds ago is N seconds older now, whatever it said then.

const state = { lastOkMs: null, lostSinceMs: null };
const listeners = [];

export function onLinkChange(fn) {
  listeners.push(fn);
}

export function reportOk() {
  const wasLost = state.lostSinceMs !== null;
  state.lastOkMs = Date.now();
  state.lostSinceMs = null;
  if (wasLost) listeners.forEach((fn) => fn(false));
}

// No answer at all, or a gateway / unavailable answer: the runtime is not there.
export function reportLost() {
  if (state.lostSinceMs !== null) return;
  state.lostSinceMs = Date.now();
  listeners.forEach((fn) => fn(true));
}

export function linkLost() {
  return state.lostSinceMs !== null;
}

// Seconds since the last answer from the runtime (null before the first one).
export function silenceS(nowMs = Date.now()) {
  return state.lastOkMs === null ? null : Math.max(0, (nowMs - state.lastOkMs) / 1000);
}
