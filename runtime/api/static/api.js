// HTTP client for the gridaios API (contract v1). The session is the HttpOnly cookie the
// server sets at login; nothing secret is kept in the page.
import { reportLost, reportOk } from "./link.js";

export class ApiError extends Error {
  constructor(status, detail, path) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.path = path;
  }
}

// Listeners told when any call answers 401 (session ended): the app shows the login form.
const unauthorizedListeners = [];
export function onUnauthorized(fn) {
  unauthorizedListeners.push(fn);
}

function detailText(status, body) {
  if (body && typeof body === "object" && "detail" in body) {
    const d = body.detail;
    if (typeof d === "string") return d;
    // FastAPI validation errors: [{loc, msg, ...}]
    if (Array.isArray(d)) {
      return d.map((e) => `${(e.loc || []).slice(1).join(".") || "request"}: ${e.msg}`).join("; ");
    }
    return JSON.stringify(d);
  }
  if (status === 401) return "not logged in (or the session expired): log in again";
  if (status === 403) return "your role does not allow this";
  if (status === 404) return "not found";
  if (status >= 500) return `server error (HTTP ${status}); see the runtime log`;
  return `HTTP ${status}`;
}

export async function request(method, path, body, { quiet401 = false } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    reportLost();
    throw new ApiError(0, `cannot reach the gridaios runtime (${err.message}); is it running?`, path);
  }
  if ([502, 504].includes(response.status)) reportLost();
  else reportOk();
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("application/json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    if (response.status === 401 && !quiet401) unauthorizedListeners.forEach((fn) => fn());
    throw new ApiError(response.status, detailText(response.status, data), path);
  }
  return data;
}

export const get = (path, opts) => request("GET", path, undefined, opts);
export const post = (path, body, opts) => request("POST", path, body ?? {}, opts);

export function query(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export const ROLES = ["viewer", "operator", "engineer", "admin"];
export function roleAtLeast(role, needed) {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}
