// @ts-check
/**
 * The configuration page (issue 8, role admin): the running configuration as YAML
 * (`GET /v1/config` with `Accept: application/yaml`), an editor for a new one, validation with
 * every issue at its field path and line (`PUT /v1/config?dry_run=true`, R41), the dry-run diff,
 * and apply (`PUT /v1/config`, R42) with the version it made. Apply is offered only for the exact
 * text that last validated; the server validates again and never applies an invalid file.
 */

import * as api from "../common/api.js";
import * as i18n from "../common/i18n.js";
import * as session from "../common/session.js";

const { t } = i18n;
/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const YAML = "application/yaml";

/** The text that last validated (apply is for that text only). */
let validated = "";
/** @type {Set<number>} lines with an issue */
let badLines = new Set();

async function main() {
  const me = await session.enter("config");
  $("who").textContent = me.name;
  $("sign-out").addEventListener("click", session.signOut);
  const editor = /** @type {HTMLTextAreaElement} */ ($("editor"));
  editor.addEventListener("input", () => {
    /** @type {HTMLButtonElement} */ ($("apply")).disabled = editor.value !== validated;
    gutter();
  });
  editor.addEventListener("scroll", () => {
    $("gutter").scrollTop = editor.scrollTop;
  });
  $("validate").addEventListener("click", () => void send(true));
  $("apply").addEventListener("click", () => void send(false));
  $("revert").addEventListener("click", () => void loadCurrent(true));
  await loadCurrent(true);
}

/** @param {boolean} intoEditor also start the editor from it */
async function loadCurrent(intoEditor) {
  const response = await fetch("/v1/config", { headers: { ...auth(), Accept: YAML } });
  if (!response.ok) return session.refuse((await problem(response)).message);
  const text = await response.text();
  $("running").textContent = t("config.running", { version: response.headers.get("Config-Version") || "?" });
  $("current").textContent = text;
  if (intoEditor) {
    /** @type {HTMLTextAreaElement} */ ($("editor")).value = text;
    validated = "";
    badLines = new Set();
    /** @type {HTMLButtonElement} */ ($("apply")).disabled = true;
    gutter();
  }
}

function auth() {
  return { Authorization: `Bearer ${api.token()}` };
}

/** @param {Response} response */
async function problem(response) {
  const body = await response.json().catch(() => ({}));
  return new api.ApiError(response.status, body);
}

/** @param {boolean} dryRun validate and diff only */
async function send(dryRun) {
  const text = /** @type {HTMLTextAreaElement} */ ($("editor")).value;
  const response = await fetch(`/v1/config${dryRun ? "?dry_run=true" : ""}`, {
    method: "PUT", headers: { ...auth(), "Content-Type": YAML }, body: text,
  });
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    validated = dryRun ? text : "";
    showValid(body, dryRun);
    if (!dryRun) await loadCurrent(true);
  } else {
    validated = "";
    showInvalid(response.status, body);
  }
  /** @type {HTMLButtonElement} */ ($("apply")).disabled = !validated || validated !== text;
}

/**
 * @param {Record<string, any>} body {applied, version, diff}
 * @param {boolean} dryRun
 */
function showValid(body, dryRun) {
  badLines = new Set();
  gutter();
  $("issues").replaceChildren();
  const verdict = $("verdict");
  verdict.className = "notice notice-ok";
  verdict.textContent = dryRun ? t("config.valid") : t("config.applied", { version: body.version });
  verdict.hidden = false;
  drawDiff(body.diff || {});
}

/**
 * Every issue at its field path (and line), each a button that puts the cursor on its line.
 * @param {number} status
 * @param {Record<string, any>} body a problem
 */
function showInvalid(status, body) {
  const issues = Array.isArray(body.errors) && body.errors.length
    ? body.errors
    : [{ field: body.field || "", message: body.detail || t("common.error.status", { status }), line: body.line }];
  const verdict = $("verdict");
  verdict.className = "notice notice-error";
  verdict.textContent = t("config.invalid", { count: issues.length });
  verdict.hidden = false;
  badLines = new Set(issues.map((/** @type {any} */ i) => i.line).filter((/** @type {any} */ l) => typeof l === "number"));
  gutter();
  $("diff").replaceChildren();
  $("issues").replaceChildren(...issues.map(issueItem));
}

/** @param {{field: string, message: string, line?: number}} issue */
function issueItem(issue) {
  const li = document.createElement("li");
  li.dataset.field = issue.field;
  const path = document.createElement("code");
  path.textContent = issue.field || t("config.wholeFile");
  li.append(path, " — ", issue.message, " ");
  if (typeof issue.line === "number") {
    const go = document.createElement("button");
    go.type = "button";
    go.className = "link";
    go.textContent = t("config.line", { line: issue.line });
    go.addEventListener("click", () => goToLine(/** @type {number} */ (issue.line)));
    li.append(go);
  }
  return li;
}

/** @param {number} line select that line of the editor and scroll to it */
function goToLine(line) {
  const editor = /** @type {HTMLTextAreaElement} */ ($("editor"));
  const lines = editor.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  editor.focus();
  editor.setSelectionRange(start, start + (lines[line - 1] || "").length);
  const height = editor.scrollHeight / Math.max(1, lines.length);
  editor.scrollTop = Math.max(0, (line - 4) * height);
}

/** The line numbers beside the editor, issues' lines marked with a sign as well as colour. */
function gutter() {
  const count = /** @type {HTMLTextAreaElement} */ ($("editor")).value.split("\n").length;
  const box = $("gutter");
  const parts = [];
  for (let n = 1; n <= count; n++) {
    if (badLines.has(n)) {
      const mark = document.createElement("span");
      mark.className = "bad";
      mark.textContent = `⚠ ${n}\n`;
      parts.push(mark);
    } else {
      parts.push(`${n}\n`);
    }
  }
  box.replaceChildren(...parts);
}

/** @param {Record<string, {added: string[], removed: string[], changed: string[]}>} diff */
function drawDiff(diff) {
  const box = $("diff");
  const sections = Object.entries(diff).filter(([, d]) => d.added?.length || d.removed?.length || d.changed?.length);
  const title = document.createElement("h3");
  title.textContent = t("config.diff");
  if (!sections.length) {
    const none = document.createElement("p");
    none.textContent = t("config.noChange");
    return box.replaceChildren(title, none);
  }
  const blocks = sections.map(([section, d]) => {
    const div = document.createElement("div");
    div.className = "diff-section";
    div.dataset.section = section;
    const h = document.createElement("h4");
    h.textContent = section;
    const ul = document.createElement("ul");
    for (const [kind, sign] of [["added", "+"], ["removed", "−"], ["changed", "~"]]) {
      for (const name of /** @type {any} */ (d)[kind] || []) {
        const li = document.createElement("li");
        li.textContent = `${sign} ${t(`config.${kind}`, { name })}`;
        ul.append(li);
      }
    }
    div.append(h, ul);
    return div;
  });
  box.replaceChildren(title, ...blocks);
}

void main();
