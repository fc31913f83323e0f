// @ts-check
/**
 * The live view: the queue board and the presence wall, both virtual tables fed by the store.
 * A store change redraws only the rows it names, and in them only the cells whose text changed
 * (each column has a signature); a clock each second redraws only the visible "time in state" and
 * "longest wait" cells that changed. Every write waits for the next animation frame, so the events
 * of one frame cost one draw. Filters and sorting re-order the keys (cheap: an array of ids), at
 * most once a second while events flow, so rows do not jump under the eye.
 */

import * as i18n from "../common/i18n.js";
import { presenceCounts } from "./store.js";
import { VirtualTable } from "./virtual-table.js";

const { t } = i18n;
/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const PRESENCES = ["available", "busy", "busy_dnd", "away", "offline", "inactive"];
/** The badge class of each base presence (the word and the shape carry it; colour repeats). */
const TONE = { available: "ok", busy: "warn", busy_dnd: "bad", away: "muted", offline: "muted", inactive: "muted" };
const REORDER_MS = 1000;
/** The counts per presence are redrawn at most this often (each event changes them). */
const SUMMARY_MS = 500;

/** @typedef {import("./store.js").LiveStore} LiveStore */

/** @type {LiveStore} */
let store;
/** @type {VirtualTable} */
let wall;
/** @type {VirtualTable} */
let board;
let sortKey = "name";
let sortUp = true;
let reorderAt = 0;
let reorderTimer = 0;

/** @param {LiveStore} live */
export function mount(live) {
  store = live;
  board = new VirtualTable($("board"), { columns: boardColumns(), rowHeight: 34, testid: "board-table" });
  wall = new VirtualTable($("wall"), {
    columns: wallColumns(), rowHeight: 34, testid: "wall-table",
    onSort: (key) => {
      sortUp = sortKey === key ? !sortUp : true;
      sortKey = key;
      reorder();
    },
  });
  filters();
  store.subscribe((change) => {
    if (change.reloaded) {
      filters();
      return reorder();
    }
    wall.update(change.agents);
    board.update(change.queues);
    if (change.agents.size) {
      summarySoon();
      reorderSoon();
    }
  });
  // Each second only the clock cells (time in state, longest wait) change by themselves.
  setInterval(() => {
    if (!$("view-live").hidden) {
      wall.tick();
      board.tick();
    }
  }, 1000);
  for (const id of ["wall-text", "wall-presence", "wall-group", "wall-queue"]) {
    $(id).addEventListener("input", reorder);
  }
  $("wall-filter").addEventListener("submit", (event) => event.preventDefault());
  reorder();
}

export function shown() {
  wall?.refreshVisible();
  board?.refreshVisible();
}

/** Fill the filter choices from what the store holds now. */
function filters() {
  const groups = new Set();
  const queues = [...store.queues.keys()].sort();
  for (const agent of store.agents.values()) if (agent.attributes?.group) groups.add(String(agent.attributes.group));
  choices(/** @type {HTMLSelectElement} */ ($("wall-presence")), PRESENCES, (p) => t(`console.presence.${p}`));
  choices(/** @type {HTMLSelectElement} */ ($("wall-group")), [...groups].sort(), String);
  choices(/** @type {HTMLSelectElement} */ ($("wall-queue")), queues, String);
}

/**
 * @param {HTMLSelectElement} select
 * @param {string[]} values
 * @param {(v: string) => string} text
 */
function choices(select, values, text) {
  const kept = select.value;
  const all = new Option(t("console.wall.all"), "");
  select.replaceChildren(all, ...values.map((v) => new Option(text(v), v)));
  if (values.includes(kept)) select.value = kept;
}

function reorderSoon() {
  if (reorderTimer) return;
  const wait = Math.max(0, reorderAt + REORDER_MS - Date.now());
  reorderTimer = window.setTimeout(() => {
    reorderTimer = 0;
    reorder();
  }, wait);
}

/** Filter and sort the wall's keys; the board lists queues by priority, then name. */
function reorder() {
  reorderAt = Date.now();
  const text = /** @type {HTMLInputElement} */ ($("wall-text")).value.trim().toLowerCase();
  const presence = /** @type {HTMLSelectElement} */ ($("wall-presence")).value;
  const group = /** @type {HTMLSelectElement} */ ($("wall-group")).value;
  const queue = /** @type {HTMLSelectElement} */ ($("wall-queue")).value;
  const chosen = [...store.agents.values()].filter((a) =>
    (!text || a.id.toLowerCase().includes(text) || String(a.name || "").toLowerCase().includes(text)) &&
    (!presence || a.presence === presence) &&
    (!group || String(a.attributes?.group ?? "") === group) &&
    (!queue || (a.queues || []).includes(queue)));
  const value = SORTS[/** @type {keyof SORTS} */ (sortKey)] || SORTS.name;
  chosen.sort((a, b) => compare(value(a), value(b)) * (sortUp ? 1 : -1) || compare(a.id, b.id));
  wall.setKeys(chosen.map((a) => a.id));
  wall.markSort(sortKey, sortUp ? "ascending" : "descending");
  write($("wall-count"), t("console.wall.count", { shown: chosen.length, total: store.agents.size }));
  const queues = [...store.queues.values()].sort((a, b) => compare(a.priority, b.priority) || compare(a.name, b.name));
  board.setKeys(queues.map((q) => q.name));
  summary();
}

/** @param {any} a @param {any} b */
function compare(a, b) {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

const SORTS = {
  name: (/** @type {any} */ a) => String(a.name || a.id).toLowerCase(),
  presence: (/** @type {any} */ a) => PRESENCES.indexOf(a.presence),
  since: (/** @type {any} */ a) => a.presence_since ?? Infinity,
  items: (/** @type {any} */ a) => (a.active || []).length,
  capacity: (/** @type {any} */ a) => (a.capacity_units ? a.used_units / a.capacity_units : 0),
};

let summaryTimer = 0;

/** The counts per presence soon, in a frame: once however many events came meanwhile. */
function summarySoon() {
  if (summaryTimer) return;
  summaryTimer = window.setTimeout(() => requestAnimationFrame(summary), SUMMARY_MS);
}

/** @type {Map<string, HTMLElement>} one badge per presence, written only when its count changes */
const badges = new Map();

/** The counts per presence above the wall. */
function summary() {
  summaryTimer = 0;
  const counts = presenceCounts(store.agents.values());
  const box = $("wall-summary");
  if (!badges.size) {
    for (const p of PRESENCES) {
      const badge = document.createElement("span");
      badge.className = `badge ${TONE[/** @type {keyof TONE} */ (p)]}`;
      badge.dataset.presence = p;
      badges.set(p, badge);
    }
    box.replaceChildren(...badges.values());
  }
  for (const [p, badge] of badges) {
    const count = counts.get(p) || 0;
    write(badge, `${t(`console.presence.${p}`)} ${count}`);
    if (badge.hidden !== !count) badge.hidden = !count;
  }
}

/**
 * Set a node's text only when it differs (a write of the same text still costs a layout).
 * @param {HTMLElement} node
 * @param {string} text
 */
function write(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** @returns {import("./virtual-table.js").Column[]} */
function wallColumns() {
  const agent = (/** @type {string} */ key) => store.agents.get(key) || {};
  return [
    { key: "name", label: t("console.wall.agent"), sortable: true, className: "col-agent", sig: (key) => String(agent(key).name ?? ""), render: (cell, key) => {
      const a = agent(key);
      const link = document.createElement("a");
      link.href = `#items/agent=${encodeURIComponent(key)}`;
      link.textContent = a.name ? `${a.name} (${key})` : key;
      cell.replaceChildren(link);
    } },
    { key: "group", label: t("console.wall.group"), className: "col-group", ...text((key) => String(agent(key).attributes?.group ?? "")) },
    { key: "presence", label: t("console.wall.presence"), sortable: true, className: "col-presence", sig: (key) => {
      const a = agent(key);
      return `${a.presence}|${a.label ?? ""}|${a.connected}`;
    }, render: (cell, key) => {
      const a = agent(key);
      const badge = document.createElement("span");
      badge.className = `badge ${TONE[/** @type {keyof TONE} */ (a.presence)] || "muted"}`;
      badge.textContent = t(`console.presence.${a.presence}`) + (a.label ? ` · ${a.label}` : "");
      badge.dataset.presence = a.presence;
      const parts = [badge];
      if (a.connected === false && a.presence !== "offline") parts.push(note(t("console.wall.disconnected")));
      cell.replaceChildren(...parts);
    } },
    { key: "since", label: t("console.wall.since"), sortable: true, ticks: true, className: "num col-since", ...text((key) => {
      const since = agent(key).presence_since;
      return typeof since === "number" ? i18n.clock(Date.now() / 1000 - since) : "—";
    }) },
    { key: "items", label: t("console.wall.items"), sortable: true, className: "num col-items", ...text((key) => {
      const a = agent(key);
      const offers = (a.offers || []).length;
      return String((a.active || []).length) + (offers ? ` + ${t("console.wall.offers", { count: offers })}` : "");
    }) },
    { key: "capacity", label: t("console.wall.capacity"), sortable: true, className: "col-capacity",
      sig: (key) => JSON.stringify([agent(key).used_units, agent(key).capacity_units, agent(key).profiles]),
      render: (cell, key) => capacity(cell, agent(key)) },
  ];
}

/**
 * A column of plain text: its signature is its text, written only when it changes.
 * @param {(key: string) => string} value
 * @returns {Pick<import("./virtual-table.js").Column, "sig" | "render">}
 */
function text(value) {
  return { sig: value, render: (cell, _key, shown) => { cell.textContent = shown; } };
}

/**
 * Used/total units as a meter and in words, and each profile's used/limit.
 * @param {HTMLTableCellElement} cell
 * @param {Record<string, any>} a
 */
function capacity(cell, a) {
  const total = Number(a.capacity_units) || 0;
  const used = Number(a.used_units) || 0;
  const meter = document.createElement("span");
  meter.className = "meter";
  const fill = document.createElement("span");
  fill.style.width = `${total ? Math.min(100, Math.max(0, (100 * used) / total)) : 0}%`;
  meter.append(fill);
  const words = document.createElement("span");
  words.className = "units";
  const profiles = Object.entries(a.profiles || {}).map(([name, p]) => `${name} ${p.used}/${p.limit < 0 ? "∞" : p.limit}`);
  words.textContent = t("console.wall.units", { used, total }) + (profiles.length ? ` · ${profiles.join(", ")}` : "");
  cell.replaceChildren(meter, words);
}

/** @param {string} text */
function note(text) {
  const span = document.createElement("span");
  span.className = "badge warn";
  span.textContent = text;
  return span;
}

/** @returns {import("./virtual-table.js").Column[]} */
function boardColumns() {
  const q = (/** @type {string} */ key) => store.queues.get(key) || {};
  const number = (/** @type {string} */ field) => text((key) => {
    const value = q(key)[field];
    return value === undefined || value === null ? "—" : String(value);
  });
  return [
    { key: "name", label: t("console.board.queue"), className: "col-queue", sig: (key) => String(q(key).open), render: (cell, key) => {
      const link = document.createElement("a");
      link.href = `#items/queue=${encodeURIComponent(key)}`;
      link.textContent = key;
      const parts = [link];
      const open = q(key).open;
      if (open === false) parts.push(note(t("console.board.closed")));
      cell.replaceChildren(...parts);
    } },
    { key: "waiting", label: t("console.board.waiting"), className: "num col-n", ...number("waiting") },
    { key: "offered", label: t("console.board.offered"), className: "num col-n", ...number("offered") },
    { key: "longest", label: t("console.board.longest"), ticks: true, className: "num col-wait", sig: (key) => {
      const wait = store.longestWait(key);
      const limit = q(key).service_level_s;
      return `${i18n.clock(wait)}|${typeof limit === "number" && wait > limit}`;
    }, render: (cell, _key, shown) => {
      const [clock, over] = shown.split("|");
      // Past the queue's service-level target: an icon and words (hidden, read aloud; the legend
      // under the board says what the icon means), never colour alone, and no wider than a clock.
      cell.replaceChildren(...(over === "true" ? [overTarget()] : []), clock);
    } },
    { key: "ewt", label: t("console.board.ewt"), className: "num col-n", ...text((key) => {
      const ewt = q(key).ewt_s;
      return typeof ewt === "number" ? i18n.clock(ewt) : "—";
    }) },
    { key: "sl", label: t("console.board.serviceLevel"), className: "num col-n", ...text((key) => {
      const sl = serviceLevel(q(key));
      return typeof sl === "number" ? `${Math.round(sl * 100)}%` : "—";
    }) },
    { key: "staffed", label: t("console.board.eligible"), className: "num col-n", ...number("staffed") },
    { key: "ready", label: t("console.board.available"), className: "num col-n", ...number("ready") },
  ];
}

/** The mark of a longest wait past its target: ⚠ on screen, "over target" to a screen reader. */
function overTarget() {
  const mark = document.createElement("span");
  mark.className = "over-target";
  mark.title = t("console.board.overTarget");
  mark.dataset.testid = "over-target";
  const icon = document.createElement("span");
  icon.setAttribute("aria-hidden", "true");
  icon.textContent = "⚠ ";
  const words = document.createElement("span");
  words.className = "visually-hidden";
  words.textContent = `${t("console.board.overTarget")} `;
  mark.append(icon, words);
  return mark;
}

/**
 * Today's service level, whatever shape the queue view gives it in.
 * @param {Record<string, any>} queue
 * @returns {number | null}
 */
function serviceLevel(queue) {
  const value = queue.service_level_today ?? queue.today?.service_level ?? queue.service_level;
  return typeof value === "number" ? value : null;
}
