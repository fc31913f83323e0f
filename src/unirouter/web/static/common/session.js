// @ts-check
/**
 * What every signed-in page does first: load the strings, check the tab's token against
 * `GET /v1/me`, and refuse to draw anything the role may not use.
 */

import * as api from "./api.js";
import * as i18n from "./i18n.js";

/**
 * @typedef {object} Me
 * @property {string} name
 * @property {"admin" | "supervisor" | "agent" | "intake"} role
 * @property {string | null} agent
 */

export const SIGN_IN = "/ui/";

/** Where each role lands after signing in, and the pages it may open. */
export const HOME = { agent: "/ui/agent/", supervisor: "/ui/console/", admin: "/ui/console/" };
export const PAGES = {
  agent: ["agent"],
  supervisor: ["console"],
  admin: ["console", "config"],
  intake: [],
};

/**
 * Sign the page in: the caller of the tab's token if its role may open `page`. Otherwise the
 * page shows why (no token: sent to sign-in; wrong role: a message and a sign-in link) and the
 * promise never resolves, so no control of the page is ever drawn.
 * @param {"agent" | "console" | "config"} page
 * @returns {Promise<Me>}
 */
export async function enter(page) {
  await i18n.load();
  i18n.apply();
  if (!api.token()) {
    location.replace(`${SIGN_IN}#next=${page}`);
    return never();
  }
  let me;
  try {
    me = /** @type {Me} */ (await api.get("/v1/me"));
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 401) api.forgetToken();
    refuse(error instanceof Error ? error.message : String(error));
    return never();
  }
  if (!(PAGES[me.role] || []).includes(page)) {
    refuse(i18n.t("signin.error.role", { role: me.role }));
    return never();
  }
  return me;
}

/** @returns {Promise<never>} */
function never() {
  return new Promise(() => {});
}

/**
 * Replace the page's main content with a refusal and a way back to sign-in.
 * @param {string} message
 */
export function refuse(message) {
  const main = document.querySelector("main") || document.body;
  main.replaceChildren();
  const box = document.createElement("div");
  box.className = "notice notice-error";
  box.setAttribute("role", "alert");
  box.dataset.testid = "refused";
  const text = document.createElement("p");
  text.textContent = message;
  const link = document.createElement("a");
  link.href = SIGN_IN;
  link.textContent = i18n.t("common.signInAgain");
  box.append(text, link);
  main.append(box);
}

export function signOut() {
  api.forgetToken();
  location.assign(SIGN_IN);
}
