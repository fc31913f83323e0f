// @ts-check
/**
 * The one way the interfaces talk to the server: the public API of SPEC §6.3.
 *
 * - `request()` adds the bearer token and turns RFC 9457 problems into an {@link ApiError}
 *   whose message names the field at fault.
 * - `events()` reads a server-sent event stream with fetch(), so the token travels in the
 *   Authorization header (EventSource cannot send one, and a token in a URL ends up in logs).
 * - `socket()` opens a WebSocket offering the subprotocols `bearer, TOKEN` for the same reason.
 *
 * The token lives in sessionStorage under `unirouter.token` (one tab, gone when it closes).
 */

import { t } from "./i18n.js";

export const TOKEN_KEY = "unirouter.token";

/** @returns {string | null} the token of this tab, if signed in */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** @param {string} value */
export function keepToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * A refused request: the HTTP status and the problem document (code, detail, field, ...).
 */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {Record<string, any>} problem
   */
  constructor(status, problem) {
    super(describeProblem(status, problem));
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    /** @type {string | undefined} */
    this.field = problem.field ?? undefined;
    /** @type {string | undefined} */
    this.code = problem.code ?? undefined;
  }
}

/**
 * A readable sentence for a problem: its detail, and the field it names.
 * @param {number} status
 * @param {Record<string, any>} problem
 * @returns {string}
 */
export function describeProblem(status, problem) {
  const detail = problem.detail || problem.title || t("common.error.status", { status });
  if (problem.field) return t("common.error.field", { field: problem.field, detail });
  return detail;
}

/**
 * @typedef {object} RequestOptions
 * @property {any} [body] a JSON body
 * @property {string | null} [token] another token than the tab's (e.g. a customer's)
 * @property {AbortSignal} [signal]
 * @property {Record<string, string>} [headers] more request headers (the widget's key)
 */

/**
 * Call the API; resolves with the JSON body (null for an empty one), rejects with ApiError.
 * @param {string} method
 * @param {string} path
 * @param {RequestOptions} [options]
 * @returns {Promise<any>}
 */
export async function request(method, path, options = {}) {
  const headers = { ...authHeaders(options.token), ...options.headers };
  /** @type {RequestInit} */
  const init = { method, headers, signal: options.signal };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, { code: "unreachable", detail: t("common.error.unreachable") });
  }
  const text = await response.text();
  const body = text ? parseJson(text) : null;
  if (!response.ok) throw new ApiError(response.status, body && typeof body === "object" ? body : {});
  return body;
}

/** @param {string} text */
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text };
  }
}

/**
 * @param {string | null | undefined} explicit
 * @returns {Record<string, string>}
 */
function authHeaders(explicit) {
  const value = explicit === undefined ? token() : explicit;
  return value ? { Authorization: `Bearer ${value}` } : {};
}

export const get = (/** @type {string} */ path, /** @type {RequestOptions} */ o = {}) =>
  request("GET", path, o);
export const post = (/** @type {string} */ path, /** @type {any} */ body = {}, o = {}) =>
  request("POST", path, { ...o, body });
export const put = (/** @type {string} */ path, /** @type {any} */ body = {}, o = {}) =>
  request("PUT", path, { ...o, body });

/** @param {string} value a path segment (ids come from the server, but never trust them in a URL) */
export const seg = (value) => encodeURIComponent(value);

/**
 * @typedef {object} SseEvent
 * @property {string} id
 * @property {string} event
 * @property {any} data the parsed JSON of `data:`
 */

/**
 * Read a server-sent event stream over fetch() with the bearer header. Calls `onEvent` for each
 * event; resolves when the stream ends, rejects with ApiError if the server refuses it.
 * @param {string} path
 * @param {(event: SseEvent) => void} onEvent
 * @param {{signal?: AbortSignal, lastEventId?: string}} [options]
 */
export async function events(path, onEvent, options = {}) {
  const headers = { ...authHeaders(undefined), Accept: "text/event-stream" };
  if (options.lastEventId) headers["Last-Event-ID"] = options.lastEventId;
  const response = await fetch(path, { headers, signal: options.signal });
  if (!response.ok || !response.body) {
    throw new ApiError(response.status, parseJson(await response.text()) || {});
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = parseFrame(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (frame) onEvent(frame);
    }
  }
}

/**
 * @param {string} block one SSE frame (lines up to a blank line)
 * @returns {SseEvent | null} null for comments and keep-alives
 */
export function parseFrame(block) {
  let id = "";
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "id") id = value;
    else if (name === "event") event = value;
    else if (name === "data") data.push(value);
  }
  if (!data.length) return null;
  return { id, event, data: parseJson(data.join("\n")) };
}

/**
 * Open a WebSocket to an API path, authenticated by the subprotocols `bearer, TOKEN`.
 * @param {string} path e.g. `/v1/agents/alice/stream`
 * @returns {WebSocket}
 */
export function socket(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const value = token();
  return new WebSocket(`${scheme}//${location.host}${path}`, value ? ["bearer", value] : []);
}
