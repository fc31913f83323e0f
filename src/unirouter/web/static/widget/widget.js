// @ts-check
/**
 * The customer chat widget (issue 8 item 5), embeddable in a company's site (see embed.js).
 *
 * It opens a chat with the deployment's widget key (`#key=...` in the fragment) through
 * `POST /v1/widget/conversations`, then uses only that conversation's customer token (SPEC §6.3):
 * the chat's status (place in the queue, estimated wait, the agent) from
 * `GET /v1/widget/conversations/{id}`, the agent's messages live by long poll
 * (`GET /v1/work-items/{id}/messages?after=N&wait_s=25`), the customer's messages by POST, and
 * `POST .../end`. The chat's id and token are kept in localStorage per widget key, so a customer who
 * comes back finds the chat, and a message to a parked chat brings it back to its agent (R29).
 * No staff token is ever sent: every call names its token explicitly.
 */

import * as api from "../common/api.js";
import * as i18n from "../common/i18n.js";

const { t } = i18n;
const STATUS_EVERY_MS = 2000;
const LONG_POLL_S = 25;
const RETRY_MS = 2000;

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * @typedef {object} Chat
 * @property {string} id
 * @property {string} token the conversation's customer token
 */

await i18n.load();
i18n.apply();
const key = new URLSearchParams(location.hash.slice(1)).get("key");
const STORE = `unirouter.widget.${key}`;
/** @type {Chat | null} */
let chat = null;
let after = 0;
/** @type {any} */
let status = null;
/** Bumped whenever the chat changes, so the loops of an older chat stop. */
let generation = 0;

$("start").addEventListener("submit", (e) => (e.preventDefault(), void start()));
$("reply").addEventListener("submit", (e) => (e.preventDefault(), void send()));
$("end").addEventListener("click", () => void end());
$("again").addEventListener("click", () => (forget(), showStart()));
if (!key) {
  fail(t("widget.missingKey"));
} else {
  const kept = recall();
  if (kept) enter(kept);
  else showStart();
}

/** @param {string} message */
function fail(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

/** @returns {Chat | null} */
function recall() {
  try {
    const kept = JSON.parse(localStorage.getItem(STORE) || "null");
    return kept && kept.id && kept.token ? kept : null;
  } catch {
    return null;
  }
}

function forget() {
  localStorage.removeItem(STORE);
  chat = null;
  generation += 1;
}

function showStart() {
  $("chat").hidden = true;
  $("start").hidden = false;
  /** @type {HTMLElement} */ ($("start-text")).focus();
}

/** A random id of this chat, made before the first try: a retried start returns the same chat. */
function conversationId() {
  const pending = sessionStorage.getItem(`${STORE}.pending`);
  if (pending) return pending;
  const made = crypto.randomUUID().replaceAll("-", "");
  sessionStorage.setItem(`${STORE}.pending`, made);
  return made;
}

async function start() {
  const text = /** @type {HTMLTextAreaElement} */ ($("start-text")).value.trim();
  const name = /** @type {HTMLInputElement} */ ($("start-name")).value.trim();
  if (!text || !key) return;
  fail("");
  const button = /** @type {HTMLButtonElement} */ ($("start").querySelector("button"));
  button.disabled = true;
  try {
    const body = { conversation: conversationId(), name, text };
    const opened = await api.post("/v1/widget/conversations", body, {
      token: null,
      headers: { "X-Widget-Key": key },
    });
    sessionStorage.removeItem(`${STORE}.pending`);
    /** @type {HTMLTextAreaElement} */ ($("start-text")).value = "";
    const made = { id: opened.id, token: opened.customer_token };
    localStorage.setItem(STORE, JSON.stringify(made));
    enter(made, opened);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  } finally {
    button.disabled = false;
  }
}

/**
 * Show a chat and follow it.
 * @param {Chat} found
 * @param {any} [first] its status, if known
 */
function enter(found, first) {
  chat = found;
  after = 0;
  generation += 1;
  $("start").hidden = true;
  $("chat").hidden = false;
  $("messages").replaceChildren();
  if (first) drawStatus(first);
  else $("status").textContent = t("widget.status.opening");
  void follow(generation);
  void listen(generation);
  /** @type {HTMLElement} */ ($("reply-text")).focus();
}

/** @param {string} path @param {any} [body] */
function call(path, body) {
  const token = chat ? chat.token : null;
  return body === undefined ? api.get(path, { token }) : api.post(path, body, { token });
}

/** A chat the server no longer knows (a new log, a revoked token): start afresh. @param {unknown} error */
function lost(error) {
  if (error instanceof api.ApiError && (error.status === 401 || error.status === 404)) {
    forget();
    showStart();
    return true;
  }
  return false;
}

/** The status, every few seconds until the chat is closed. @param {number} mine */
async function follow(mine) {
  while (mine === generation && chat) {
    try {
      drawStatus(await call(`/v1/widget/conversations/${api.seg(chat.id)}`));
      fail("");
    } catch (error) {
      if (mine !== generation || lost(error)) return;
      fail(error instanceof Error ? error.message : String(error));
    }
    if (status?.state === "closed") return;
    await sleep(STATUS_EVERY_MS);
  }
}

/** The conversation, live: each long poll returns as soon as a message is durable. @param {number} mine */
async function listen(mine) {
  while (mine === generation && chat) {
    const path = `/v1/work-items/${api.seg(chat.id)}/messages?after=${after}&wait_s=${LONG_POLL_S}`;
    try {
      const body = await call(path);
      if (mine !== generation) return;
      for (const message of body.messages) addMessage(message);
    } catch (error) {
      if (mine !== generation || lost(error)) return;
      await sleep(RETRY_MS);
    }
    if (status?.state === "closed" && mine === generation) {
      const rest = await call(`/v1/work-items/${api.seg(chat.id)}/messages?after=${after}`);
      for (const message of rest.messages) addMessage(message);
      return;
    }
  }
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** @param {any} message */
function addMessage(message) {
  if (message.number <= after) return;
  after = message.number;
  const note = message.attributes?.widget === "ended";
  const mine = message.sender === "customer" && !note;
  const who = note ? t("widget.system") : mine ? t("widget.you") : agentName();
  const text = note ? t("widget.endedNote") : message.text;
  const item = document.createElement("li");
  item.className = note ? "note" : mine ? "mine" : "theirs";
  const label = document.createElement("span");
  label.className = "who";
  label.textContent = who;
  item.append(label, text);
  $("messages").append(item);
  item.scrollIntoView({ block: "nearest" });
}

function agentName() {
  return status?.agent_name || t("widget.status.agent");
}

/** @param {number | null} seconds */
function wait(seconds) {
  if (seconds === null || seconds === undefined) return t("widget.status.waitUnknown");
  if (seconds < 60) return t("widget.waitShort");
  return t("widget.status.wait", { wait: t("widget.minutes", { n: Math.ceil(seconds / 60) }) });
}

/** @param {any} found */
function drawStatus(found) {
  status = found;
  const agent = agentName();
  let text;
  if (found.state === "closed") {
    text = t(found.close_reason === "abandoned" ? "widget.status.abandoned" : "widget.status.closed");
  } else if (found.ended) {
    text = t("widget.status.ended");
  } else if (found.state === "queued") {
    const place = found.position
      ? t("widget.status.queued", { position: found.position })
      : t("widget.status.queuedNoPlace");
    text = `${place} ${wait(found.ewt_s)}`;
  } else if (["assigned", "wrap_up", "parked"].includes(found.state)) {
    text = t(`widget.status.${found.state}`, { agent });
  } else {
    text = t("widget.status.offered");
  }
  $("status").textContent = text;
  $("status").dataset.state = found.ended ? "ended" : found.state;
  const over = found.state === "closed" || found.ended;
  $("reply").hidden = over;
  /** @type {HTMLButtonElement} */ ($("end")).hidden = over;
  $("again").hidden = !over;
}

async function send() {
  const box = /** @type {HTMLTextAreaElement} */ ($("reply-text"));
  const text = box.value.trim();
  if (!text || !chat) return;
  try {
    await call(`/v1/work-items/${api.seg(chat.id)}/messages`, { text });
    box.value = "";
    fail("");
  } catch (error) {
    if (!lost(error)) fail(error instanceof Error ? error.message : String(error));
  }
}

async function end() {
  if (!chat) return;
  try {
    drawStatus(await call(`/v1/widget/conversations/${api.seg(chat.id)}/end`, {}));
  } catch (error) {
    if (!lost(error)) fail(error instanceof Error ? error.message : String(error));
  }
}
