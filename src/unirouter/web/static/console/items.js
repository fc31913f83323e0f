// @ts-check
/**
 * Item search by state, queue and agent (`GET /v1/work-items`, paged by cursor), and the item
 * page: its facts, force-assign and transfer (`POST …/assign`, `…/transfer`), and its trace
 * (R43) read as "why this agent, why not the others".
 */

import * as api from "../common/api.js";
import * as i18n from "../common/i18n.js";
import { explain } from "./trace.js";

const { t } = i18n;
/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const STATES = ["scheduled", "routing", "queued", "offered", "assigned", "wrap_up", "parked", "closed"];

/** @typedef {import("./store.js").LiveStore} LiveStore */
/** @type {LiveStore} */
let store;
/** @type {string | null} */
let nextCursor = null;
/** @type {string | null} */
let current = null;

/** @param {LiveStore} live */
export function mount(live) {
  store = live;
  fillChoices();
  store.subscribe((change) => {
    if (change.reloaded) fillChoices();
  });
  $("item-search").addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `items/${searchParams().toString()}`;
  });
  $("more").addEventListener("click", () => void search(true));
  $("assign-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void act("assign", { agent: value("assign-agent") });
  });
  $("transfer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void act("transfer", { queue: value("transfer-queue") });
  });
  $("transfer-agent-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void act("transfer", { agent: value("transfer-agent") });
  });
}

/** @param {string} id */
function value(id) {
  return /** @type {HTMLInputElement} */ ($(id)).value.trim();
}

function fillChoices() {
  const queues = [...store.queues.keys()].sort();
  const state = /** @type {HTMLSelectElement} */ ($("search-state"));
  const queue = /** @type {HTMLSelectElement} */ ($("search-queue"));
  const keepState = state.value;
  const keepQueue = queue.value;
  state.replaceChildren(new Option(t("console.wall.all"), ""), ...STATES.map((s) => new Option(t(`console.state.${s}`), s)));
  queue.replaceChildren(new Option(t("console.wall.all"), ""), ...queues.map((q) => new Option(q, q)));
  state.value = keepState;
  queue.value = keepQueue;
  /** @type {HTMLSelectElement} */ ($("transfer-queue")).replaceChildren(...queues.map((q) => new Option(q, q)));
  $("agent-ids").replaceChildren(...[...store.agents.keys()].sort().map((id) => new Option(id)));
}

function searchParams() {
  const params = new URLSearchParams();
  for (const [name, id] of [["state", "search-state"], ["queue", "search-queue"], ["agent", "search-agent"]]) {
    const v = value(id);
    if (v) params.set(name, v);
  }
  return params;
}

/** `#items/queue=q&agent=a`: fill the form from the address and search. */
export function fromHash() {
  const params = new URLSearchParams(location.hash.split("/").slice(1).join("/"));
  /** @type {HTMLSelectElement} */ ($("search-state")).value = params.get("state") || "";
  /** @type {HTMLSelectElement} */ ($("search-queue")).value = params.get("queue") || "";
  /** @type {HTMLInputElement} */ ($("search-agent")).value = params.get("agent") || "";
  void search(false);
}

/** @param {boolean} more the next page of the same search */
async function search(more) {
  const params = searchParams();
  params.set("limit", "100");
  if (more && nextCursor) params.set("cursor", nextCursor);
  const body = /** @type {HTMLTableElement} */ ($("results")).tBodies[0];
  $("search-error").hidden = true;
  let page;
  try {
    page = await api.get(`/v1/work-items?${params}`);
  } catch (error) {
    $("search-error").textContent = error instanceof Error ? error.message : String(error);
    $("search-error").hidden = false;
    return;
  }
  if (!more) body.replaceChildren();
  for (const item of page.items) body.append(resultRow(item));
  if (!page.items.length && !more) {
    const row = body.insertRow();
    const cell = row.insertCell();
    cell.colSpan = 6;
    cell.textContent = t("console.items.none");
  }
  nextCursor = page.next_cursor;
  $("more").hidden = !nextCursor;
}

/** @param {Record<string, any>} item */
function resultRow(item) {
  const row = document.createElement("tr");
  const link = document.createElement("a");
  link.href = `#item/${encodeURIComponent(item.id)}`;
  link.textContent = item.external_id ? `${item.external_id} (${item.id})` : item.id;
  const created = item.times?.created_at;
  const cells = [link, t(`console.state.${item.state}`), item.queue ?? "—", item.agent ?? "—", item.workstream,
    typeof created === "number" ? i18n.time(created) : "—"];
  for (const content of cells) row.insertCell().append(content);
  return row;
}

/** @param {string} id */
export async function open(id) {
  current = id;
  $("action-result").hidden = true;
  $("item-error").hidden = true;
  let item;
  try {
    item = await api.get(`/v1/work-items/${api.seg(id)}`);
  } catch (error) {
    $("item-title").textContent = id;
    $("item-error").textContent = error instanceof Error ? error.message : String(error);
    $("item-error").hidden = false;
    return;
  }
  if (current !== id) return;
  draw(item);
}

/** @param {Record<string, any>} item */
function draw(item) {
  $("item-title").textContent = t("console.item.title", { id: item.external_id || item.id });
  const facts = [
    ["id", item.id], ["state", t(`console.state.${item.state}`) + (item.close_reason ? ` (${item.close_reason})` : "")],
    ["workstream", item.workstream], ["queue", item.queue ?? "—"], ["agent", item.agent ?? "—"],
    ["offer", item.offer ? t("console.item.offerTo", { agent: item.offer.agent }) : "—"],
    ["priority", String(item.priority)], ["units", String(item.units)],
    ["skills", (item.skills || []).map((/** @type {any} */ s) => `${s.name} ≥ ${s.level}`).join(", ") || "—"],
    ["configVersion", String(item.config_version ?? "—")],
  ];
  const dl = $("item-facts");
  dl.replaceChildren();
  for (const [key, text] of facts) {
    const dt = document.createElement("dt");
    dt.textContent = t(`console.item.fact.${key}`);
    const dd = document.createElement("dd");
    dd.textContent = text;
    dd.dataset.fact = key;
    dl.append(dt, dd);
  }
  const open = item.state !== "closed";
  for (const form of ["assign-form", "transfer-form", "transfer-agent-form"]) {
    for (const control of $(form).querySelectorAll("input, select, button")) {
      /** @type {HTMLInputElement} */ (control).disabled = !open;
    }
  }
  drawTrace(item.trace || []);
}

/** @param {Array<Record<string, any>>} trace */
function drawTrace(trace) {
  const list = $("trace");
  list.replaceChildren();
  for (const step of explain(trace, t)) {
    const li = document.createElement("li");
    li.dataset.stage = step.stage;
    const head = document.createElement("p");
    head.className = "step-title";
    const when = document.createElement("time");
    when.textContent = step.t ? new Date(step.t * 1000).toLocaleTimeString() : "";
    head.append(when, " ", step.title);
    li.append(head);
    if (step.lines.length) li.append(bullets(step.lines));
    if (step.decision) li.append(decisionBox(step.decision));
    list.append(li);
  }
}

/** @param {string[]} lines */
function bullets(lines) {
  const ul = document.createElement("ul");
  for (const line of lines) {
    const li = document.createElement("li");
    li.textContent = line;
    ul.append(li);
  }
  return ul;
}

/** @param {NonNullable<import("./trace.js").Step["decision"]>} d */
function decisionBox(d) {
  const box = document.createElement("div");
  box.className = "decision";
  const why = document.createElement("p");
  why.className = "why";
  why.dataset.testid = "why";
  why.textContent = d.why;
  box.append(why);
  if (d.ranked.length) {
    const table = document.createElement("table");
    table.className = "ranked";
    const head = table.createTHead().insertRow();
    for (const text of [t("console.trace.candidate"), t("console.trace.score")]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = text;
      head.append(th);
    }
    const body = table.createTBody();
    for (const r of d.ranked) {
      const row = body.insertRow();
      row.insertCell().textContent = r.winner ? `${r.agent} ✓ ${t("console.trace.chosen")}` : r.agent;
      row.insertCell().textContent = r.score;
    }
    box.append(table);
  }
  if (d.whyNot.length) {
    const title = document.createElement("p");
    title.className = "why-not-title";
    title.textContent = t("console.trace.whyNot");
    const list = bullets(d.whyNot);
    list.dataset.testid = "why-not";
    box.append(title, list);
  }
  return box;
}

/**
 * @param {"assign" | "transfer"} action
 * @param {Record<string, string>} body
 */
async function act(action, body) {
  if (!current) return;
  const result = $("action-result");
  try {
    const item = await api.post(`/v1/work-items/${api.seg(current)}/${action}`, body);
    result.className = "notice notice-ok";
    result.textContent = t(`console.item.${action}Done`, { target: body.agent || body.queue || "" });
    draw(item);
  } catch (error) {
    result.className = "notice notice-error";
    result.textContent = error instanceof Error ? error.message : String(error);
  }
  result.hidden = false;
}
