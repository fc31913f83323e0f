// @ts-check
/**
 * The agent desktop: presence, offers with their countdown, the agent's work with its capacity,
 * and the conversation of the chosen item. State comes from the agent's WebSocket stream (the
 * connection is the agent's liveness, R35) and is re-read from `GET /v1/agents/{id}` on every
 * event that names the agent; actions are plain API calls. What the agent chooses from (the custom
 * presences and each workstream's wrap-up codes) is the configuration's, read from
 * `GET /v1/catalogue` at each (re)connection: nothing of it is written here.
 */

import * as api from "../common/api.js";
import { clock, t } from "../common/i18n.js";
import * as session from "../common/session.js";

const BASES = ["available", "busy", "busy_dnd", "away", "offline"];
const DECLINE_REASONS = ["busy", "wrong_skill", "end_of_shift", "other"];
const RECONNECT_MS = 1000;
/** The pick list is re-read this often: new waiting items name no agent, so no event says so. */
const PICK_EVERY_MS = 3000;

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string)[]} [children]
 */
function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

const me = await session.enter("agent");
const agentId = /** @type {string} */ (me.agent);
/** @type {any} */
let agent = null;
/** @type {Map<string, any>} */
const items = new Map();
/** @type {string | null} */
let selected = null;
/**
 * The configuration's catalogue: custom presences (a label people see as its title, mapped to
 * the base presence routing reads, R32) and the wrap-up codes per workstream.
 * @type {{presences: {label: string, base: string, title: string}[], wrap_up_codes: Record<string, string[]>}}
 */
let catalogue = { presences: [], wrap_up_codes: {} };

$("who").textContent = agentId;
$("sign-out").addEventListener("click", session.signOut);
$("presence").addEventListener("change", () => void setPresence());
$("reply").addEventListener("submit", (e) => (e.preventDefault(), void reply()));
$("transfer").addEventListener("submit", (e) => (e.preventDefault(), void transfer()));
connect();
setInterval(tick, 250);
setInterval(() => void refreshPick(), PICK_EVERY_MS);

/** Read the catalogue again (a configuration applied since may have changed it). */
async function loadCatalogue() {
  try {
    catalogue = await api.get("/v1/catalogue");
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
}

/**
 * The presence choices: the base presences, then the catalogue's custom ones, and the agent's
 * own label if the catalogue no longer has it (so the picker never shows another presence).
 */
function drawPresenceChoices() {
  const select = /** @type {HTMLSelectElement} */ ($("presence"));
  const options = BASES.map((base) => el("option", { value: base }, [t(`agent.presence.${base}`)]));
  const custom = [...catalogue.presences];
  if (agent?.label && !custom.some((p) => p.label === agent.label)) {
    custom.push({ label: agent.label, base: agent.presence, title: agent.label });
  }
  for (const { label, base, title } of custom) {
    const text = t("agent.presence.custom", { label: title, base: t(`agent.presence.${base}`) });
    options.push(el("option", { value: `${base}|${label}`, "data-testid": "custom-presence" }, [text]));
  }
  const kept = options.map((o) => o.getAttribute("value")).join("\n");
  if (select.dataset.choices !== kept) {
    select.replaceChildren(...options);
    select.dataset.choices = kept;
  }
}

/** @param {string} message */
function fail(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

/** @param {() => Promise<any>} action */
async function attempt(action) {
  fail("");
  try {
    await action();
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  await refresh();
}

function connect() {
  const ws = api.socket(`/v1/agents/${api.seg(agentId)}/stream`);
  ws.addEventListener("open", () => showLink(true));
  ws.addEventListener("message", (event) => onFrame(JSON.parse(event.data)));
  ws.addEventListener("close", () => {
    showLink(false);
    setTimeout(connect, RECONNECT_MS);
  });
}

/** R35: a dropped connection is said at once; the desktop reconnects by itself. @param {boolean} up */
function showLink(up) {
  const badge = $("link");
  badge.className = `badge ${up ? "ok" : "bad"}`;
  badge.textContent = t(up ? "agent.link.up" : "agent.link.down");
  badge.dataset.state = up ? "up" : "down";
}

/** @param {any} frame */
function onFrame(frame) {
  if (frame.type === "hello") return void loadCatalogue().then(() => draw(frame.agent));
  if (frame.type === "message" && frame.message.item === selected) return addMessage(frame.message);
  if (frame.type === "event") void refresh();
}

async function refresh() {
  draw(await api.get(`/v1/agents/${api.seg(agentId)}`));
}

/** @param {any} state */
async function draw(state) {
  agent = state;
  const ids = [...state.active, ...state.offers.map((/** @type {any} */ o) => o.item)];
  if (selected && !ids.includes(selected)) ids.push(selected);
  await Promise.all(ids.map(async (id) => items.set(id, await api.get(`/v1/work-items/${api.seg(id)}`))));
  drawPresence();
  drawOffers();
  drawWork();
  void refreshPick();
  if (selected && items.get(selected)?.state === "closed") selected = null;
  drawConversationHeader();
}

function drawPresence() {
  drawPresenceChoices();
  const select = /** @type {HTMLSelectElement} */ ($("presence"));
  const value = agent.label ? `${agent.presence}|${agent.label}` : agent.presence;
  select.value = [...select.options].some((o) => o.value === value) ? value : agent.presence;
  const profiles = Object.entries(agent.profiles)
    .map(([name, p]) => t("agent.capacity.profile", { name, used: p.used, limit: p.limit }))
    .join(" · ");
  $("capacity").textContent = [
    t("agent.capacity.units", { used: agent.used_units, free: agent.free_units, total: agent.capacity_units }),
    profiles,
  ].filter(Boolean).join(" · ");
}

async function setPresence() {
  const [presence, label] = /** @type {HTMLSelectElement} */ ($("presence")).value.split("|");
  const body = label ? { presence, label } : { presence };
  await attempt(() => api.put(`/v1/agents/${api.seg(agentId)}/presence`, body));
}

/** @param {any} item */
function summary(item) {
  const who = item.customer?.name || item.customer?.id || item.external_id;
  return t("agent.item.summary", { channel: item.channel || item.workstream, queue: item.queue || "", who });
}

function drawOffers() {
  const list = $("offers");
  list.replaceChildren(...agent.offers.map(offerCard));
  $("no-offers").hidden = agent.offers.length > 0;
}

/** @param {any} offer */
function offerCard(offer) {
  const item = items.get(offer.item) || { channel: "", external_id: offer.item };
  const reason = el("select", { "aria-label": t("agent.offers.reason") },
    DECLINE_REASONS.map((r) => el("option", { value: r }, [t(`agent.offers.reasons.${r}`)])));
  const accept = el("button", { type: "button", class: "primary" }, [t("agent.offers.accept")]);
  const decline = el("button", { type: "button" }, [t("agent.offers.decline")]);
  accept.addEventListener("click", () => void attempt(() => api.post(`/v1/offers/${api.seg(offer.id)}/accept`)));
  decline.addEventListener("click", () => void attempt(() =>
    api.post(`/v1/offers/${api.seg(offer.id)}/decline`, { reason: /** @type {HTMLSelectElement} */ (reason).value })));
  const countdown = el("span", { class: "countdown", "data-expires": String(offer.expires_at) });
  return el("li", { class: "card offer", "data-testid": "offer" }, [
    el("p", {}, [el("strong", {}, [t("agent.offers.new")]), " ", summary(item)]),
    el("p", {}, [t("agent.offers.expires"), " ", countdown]),
    el("div", { class: "inline" }, [accept, decline, reason]),
  ]);
}

function tick() {
  const now = Date.now() / 1000;
  for (const node of document.querySelectorAll("[data-expires]")) {
    node.textContent = clock(Number(/** @type {HTMLElement} */ (node).dataset.expires) - now);
  }
  for (const node of document.querySelectorAll("[data-since]")) {
    node.textContent = clock(now - Number(/** @type {HTMLElement} */ (node).dataset.since));
  }
}

/** The ids drawn in the pick list, so that a re-read that changes nothing redraws nothing. */
/** @type {string | null} */
let picks = null;

/**
 * R28: what the agent may pick from its queues (members only; skills and capacity as the
 * workstream's pick_checks says), in queue order.
 */
async function refreshPick() {
  if (!agent) return;
  const query = `for_agent=${api.seg(agentId)}`;
  const lists = await Promise.all(agent.queues.map((/** @type {string} */ q) =>
    api.get(`/v1/queues/${api.seg(q)}/items?${query}`).catch(() => ({ items: [] }))));
  const found = lists.flatMap((l) => l.items);
  const ids = found.map((i) => i.id).join(" ");
  if (ids === picks) return;
  picks = ids;
  $("pick").replaceChildren(...found.map(pickCard));
  $("no-pick").hidden = found.length > 0;
}

/** @param {any} item */
function pickCard(item) {
  const pick = el("button", { type: "button", class: "primary" }, [t("agent.pick.pick")]);
  pick.addEventListener("click", () => void claim(item));
  const waiting = item.times?.queued_at;
  return el("li", { class: "card", "data-testid": "pick-item" }, [
    el("p", {}, [summary(item), ...(waiting ? [" · ", el("span", { "data-since": String(waiting) })] : [])]),
    pick,
  ]);
}

/** The atomic claim: of two agents picking one item exactly one gets it; the other is told. @param {any} item */
async function claim(item) {
  const note = $("pick-note");
  note.hidden = true;
  fail("");
  try {
    await api.post(`/v1/work-items/${api.seg(item.id)}/pick`, {});
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 409) {
      note.textContent = t("agent.pick.taken", { who: summary(item) });
      note.hidden = false;
    } else {
      fail(error instanceof Error ? error.message : String(error));
    }
    picks = null;
    await refreshPick();
    return;
  }
  picks = null;
  await refresh();
  await select(item.id);
}

/** The agent's items: the active ones, and the open one while in wrap-up or parked. */
function mine() {
  const ids = [...agent.active];
  if (selected && !ids.includes(selected)) ids.push(selected);
  return ids;
}

function drawWork() {
  const ids = mine();
  $("work").replaceChildren(...ids.map((id) => workCard(items.get(id))));
  $("no-work").hidden = ids.length > 0;
}

/** @param {any} item */
function workCard(item) {
  const open = el("button", { type: "button" }, [t("agent.work.open")]);
  open.addEventListener("click", () => void select(item.id));
  const state = el("span", { class: `badge ${item.state === "assigned" ? "ok" : "muted"}` }, [t(`agent.state.${item.state}`)]);
  return el("li", { class: `card${item.id === selected ? " selected" : ""}`, "data-testid": "work" }, [
    el("p", {}, [state, " ", summary(item)]),
    open,
  ]);
}

/** @param {string} id */
async function select(id) {
  selected = id;
  drawWork();
  drawConversationHeader();
  const body = await api.get(`/v1/work-items/${api.seg(id)}/messages`);
  $("messages").replaceChildren();
  for (const message of body.messages) addMessage(message);
  /** @type {HTMLElement} */ ($("reply-text")).focus();
}

function drawConversationHeader() {
  $("conv").hidden = !selected;
  $("conv-none").hidden = !!selected;
  if (!selected) return;
  const item = items.get(selected);
  const since = item.times?.[`${item.state}_at`];
  // R33: a wrap-up that blocks N seconds counts down to when the capacity comes back.
  const blocked = item.wrap_up_ends_at
    ? [el("p", { "data-testid": "wrap-up-clock" }, [t("agent.wrapUp.blocks"), " ",
        el("span", { class: "wrap-up-clock", "data-expires": String(item.wrap_up_ends_at) })])]
    : [];
  $("conv-state").replaceChildren(
    el("strong", {}, [t(`agent.state.${item.state}`)]), " ", summary(item),
    ...(since ? [" · ", el("span", { "data-since": String(since) })] : []),
    ...blocked,
  );
  tick();
  drawActions(item);
}

/**
 * The lifecycle actions the item's state allows. Complete and close carry the wrap-up code
 * chosen, when the item's workstream has codes (the catalogue's; the server refuses others).
 * @param {any} item
 */
function drawActions(item) {
  /** @type {Record<string, string[]>} */
  const byState = { assigned: ["complete", "park"], wrap_up: ["close"], parked: ["resume"] };
  const actions = byState[item.state] || [];
  const codes = catalogue.wrap_up_codes[item.workstream] || [];
  /** @type {HTMLSelectElement | null} */
  let code = null;
  const parts = [];
  if (codes.length && actions.some((a) => a === "complete" || a === "close")) {
    const kept = /** @type {HTMLSelectElement | null} */ (document.getElementById("wrap-up-code"))?.value;
    code = /** @type {HTMLSelectElement} */ (el("select", { id: "wrap-up-code" }, [
      el("option", { value: "" }, [t("agent.wrapUp.noCode")]),
      ...codes.map((c) => el("option", { value: c }, [c])),
    ]));
    if (kept && codes.includes(kept)) code.value = kept;
    parts.push(el("label", { for: "wrap-up-code" }, [t("agent.wrapUp.code")]), code);
  }
  for (const action of actions) {
    const button = el("button", { type: "button" }, [t(`agent.actions.${action}`)]);
    button.addEventListener("click", () => void attempt(() => {
      const chosen = code?.value;
      const body = action === "complete" || action === "close" ? (chosen ? { code: chosen } : {}) : undefined;
      return api.post(`/v1/work-items/${api.seg(item.id)}/${action}`, body);
    }));
    parts.push(button);
  }
  $("actions").replaceChildren(...parts);
}

/** @param {any} message */
function addMessage(message) {
  const side = message.sender === "customer" ? "customer" : "agent";
  const who = side === "customer" ? t("agent.conversation.customer") : t("agent.conversation.you");
  // The chat widget's end of a chat (the customer left): said in the desk's own words.
  const text = message.attributes?.widget === "ended" ? t("agent.conversation.ended") : message.text;
  $("messages").append(el("li", { class: side }, [el("span", { class: "who" }, [who]), text]));
}

async function reply() {
  const box = /** @type {HTMLTextAreaElement} */ ($("reply-text"));
  const text = box.value.trim();
  if (!text || !selected) return;
  const id = selected;
  await attempt(async () => {
    await api.post(`/v1/work-items/${api.seg(id)}/messages`, { text });
    box.value = "";
  });
}

async function transfer() {
  const to = /** @type {HTMLInputElement} */ ($("transfer-to")).value.trim();
  const kind = /** @type {HTMLSelectElement} */ ($("transfer-kind")).value;
  if (!to || !selected) return;
  const id = selected;
  await attempt(() => api.post(`/v1/work-items/${api.seg(id)}/transfer`, { [kind]: to }));
}
