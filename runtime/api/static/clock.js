// The site clock between answers from the runtime: the last /api/state "now" plus the local
// time since, at the rate the site clock has been seen to run (1x live; faster in the demo).
// Countdowns tick with it every second instead of freezing between refreshes.

export class SiteClock {
  constructor() {
    this.first = null;
    this.last = null;
  }

  sample(siteIso) {
    const site = new Date(siteIso).getTime();
    if (Number.isNaN(site)) return;
    const s = { site, local: Date.now() };
    if (this.first === null) this.first = s;
    this.last = s;
  }

  rate() {
    if (!this.first || !this.last || this.last.local - this.first.local < 2000) return 1;
    const r = (this.last.site - this.first.site) / (this.last.local - this.first.local);
    return Number.isFinite(r) && r > 0 ? r : 1;
  }

  nowMs() {
    if (!this.last) return Date.now();
    return this.last.site + (Date.now() - this.last.local) * this.rate();
  }
}

// "18:45 UTC" for a timestamp: the time an operator compares with the wall clock.
export function hhmm(ts) {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? "–" : `${d.toISOString().slice(11, 16)} UTC`;
}
