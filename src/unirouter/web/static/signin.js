// @ts-check
/**
 * Sign-in: a pasted token, or a link carrying `#token=...` in the fragment (a fragment is never
 * sent to a server, so it never reaches a log; it is removed from the address bar at once).
 * The token is checked with `GET /v1/me` and the interface of its role opens.
 */

import * as api from "./common/api.js";
import * as i18n from "./common/i18n.js";
import { HOME, PAGES } from "./common/session.js";

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

async function main() {
  await i18n.load();
  i18n.apply();
  const fragment = new URLSearchParams(location.hash.slice(1));
  history.replaceState(null, "", location.pathname);
  const next = fragment.get("next") || "";
  const form = /** @type {HTMLFormElement} */ ($("signin"));
  const input = /** @type {HTMLInputElement} */ ($("token"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void signIn(input.value.trim(), next);
  });
  const given = fragment.get("token");
  if (given) await signIn(given, next);
  else if (api.token() && next) await signIn(/** @type {string} */ (api.token()), next);
  else input.focus();
}

/**
 * @param {string} value
 * @param {string} next the page asked for, if any (e.g. "config")
 */
async function signIn(value, next) {
  const error = $("signin-error");
  error.hidden = true;
  if (!value) return show(error, i18n.t("signin.error.empty"));
  let me;
  try {
    me = await api.get("/v1/me", { token: value });
  } catch (failure) {
    api.forgetToken();
    if (failure instanceof api.ApiError && failure.status === 401) {
      return show(error, i18n.t("signin.error.invalid"));
    }
    return show(error, failure instanceof Error ? failure.message : String(failure));
  }
  const pages = PAGES[/** @type {keyof PAGES} */ (me.role)] || [];
  if (!pages.length) return show(error, i18n.t("signin.error.role", { role: me.role }));
  api.keepToken(value);
  if (pages.includes(next)) return location.assign(`/ui/${next}/`);
  if (pages.length === 1) return location.assign(HOME[/** @type {keyof HOME} */ (me.role)]);
  offer(pages, me.name);
}

/** @param {HTMLElement} box @param {string} message */
function show(box, message) {
  box.textContent = message;
  box.hidden = false;
  /** @type {HTMLInputElement} */ ($("token")).focus();
}

/**
 * A role with several interfaces (admin) chooses one.
 * @param {string[]} pages
 * @param {string} name
 */
function offer(pages, name) {
  $("signin").hidden = true;
  $("choices-title").textContent = i18n.t("signin.choose", { name });
  const list = $("choice-list");
  list.replaceChildren(
    ...pages.map((page) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/ui/${page}/`;
      link.textContent = i18n.t(`signin.page.${page}`);
      item.append(link);
      return item;
    }),
  );
  $("choices").hidden = false;
  /** @type {HTMLElement} */ (list.querySelector("a")).focus();
}

void main();
