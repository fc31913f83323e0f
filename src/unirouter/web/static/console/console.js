// @ts-check
/**
 * The supervisor console (issue 8, roles supervisor and admin): the live presence wall and queue
 * board, item search and the item page with its trace, reports. A client of the public API only:
 * `GET /v1/agents`, `/v1/queues`, `/v1/work-items`, `/v1/reports/*`, the event stream
 * `GET /v1/events` and the lifecycle actions `…/assign` and `…/transfer`.
 */

import * as api from "../common/api.js";
import * as i18n from "../common/i18n.js";
import * as session from "../common/session.js";
import * as items from "./items.js";
import * as live from "./live.js";
import * as reports from "./reports.js";
import { LiveStore } from "./store.js";

const { t } = i18n;
/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** The stream is read again after this pause when it ends or fails. */
const RETRY_MS = 1000;

async function main() {
  const me = await session.enter("console");
  $("who").textContent = me.name;
  $("config-link").hidden = !(session.PAGES[me.role] || []).includes("config");
  $("sign-out").addEventListener("click", session.signOut);
  const store = new LiveStore({
    agents: (ids) => api.get(ids ? `/v1/agents?${ids.map((id) => `id=${api.seg(id)}`).join("&")}` : "/v1/agents"),
    queues: () => api.get("/v1/queues"),
  });
  const start = await cursorNow();
  await store.reload();
  live.mount(store);
  items.mount(store);
  reports.mount(store);
  window.addEventListener("hashchange", route);
  route();
  void follow(store, start);
}

/** The log's newest cursor before the first read, so the stream misses nothing after it. */
async function cursorNow() {
  const response = await fetch("/readyz");
  const body = await response.json().catch(() => ({}));
  return String(body.cursor ?? 0);
}

/**
 * Read the event stream for ever, resuming after the last event seen.
 * @param {LiveStore} store
 * @param {string} after
 */
async function follow(store, after) {
  let last = after;
  for (;;) {
    status("live");
    try {
      await api.events(`/v1/events?after=${api.seg(last)}`, (frame) => {
        if (frame.id) last = frame.id;
        store.apply(frame.data);
      });
    } catch (error) {
      if (error instanceof api.ApiError && (error.status === 401 || error.status === 403)) {
        return session.refuse(error.message);
      }
    }
    status("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    store.reloadWanted = true;
    store.later();
  }
}

/** @param {"live" | "reconnecting"} state */
function status(state) {
  const badge = $("stream-state");
  badge.className = `badge ${state === "live" ? "ok" : "warn"}`;
  badge.textContent = t(`console.stream.${state}`);
}

/** Show the view the address names: #live, #items, #item/ID, #reports. */
function route() {
  const [view, arg] = (location.hash.slice(1) || "live").split("/");
  for (const name of ["live", "items", "item", "reports"]) $(`view-${name}`).hidden = name !== view;
  for (const link of document.querySelectorAll(".tabs a[data-view]")) {
    const here = /** @type {HTMLElement} */ (link).dataset.view === (view === "item" ? "items" : view);
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (view === "item" && arg) void items.open(decodeURIComponent(arg));
  if (view === "items") items.fromHash();
  if (view === "reports") reports.shown();
  if (view === "live") live.shown();
}

void main();
