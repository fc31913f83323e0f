// @ts-check
/**
 * Every string the interfaces show comes from one catalogue per language (strings/en.json),
 * nested by interface: `t("agent.offer.accept")`. Placeholders are written `{name}`.
 *
 * In HTML, `data-i18n="key"` sets an element's text and `data-i18n-attr="attr:key;attr:key"`
 * sets attributes (aria-label, placeholder, title); `apply()` fills both.
 */

/** @type {Record<string, any>} */
let catalogue = {};
let language = "en";

/**
 * Load the catalogue of the page's language (the `lang` of <html>, English by default).
 * @param {string} [lang]
 */
export async function load(lang) {
  language = lang || document.documentElement.lang || "en";
  const response = await fetch(new URL(`./strings/${language}.json`, import.meta.url));
  if (!response.ok && language !== "en") return load("en");
  catalogue = await response.json();
}

/**
 * The string at `key` with `{placeholders}` filled; the key itself if missing (visible, so a
 * missing string is noticed rather than shown blank).
 * @param {string} key
 * @param {Record<string, string | number>} [params]
 * @returns {string}
 */
export function t(key, params = {}) {
  /** @type {any} */
  let node = catalogue;
  for (const part of key.split(".")) node = node?.[part];
  if (typeof node !== "string") return key;
  return node.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** @param {string} key @returns {boolean} */
export function has(key) {
  return t(key) !== key;
}

/**
 * Fill `data-i18n` and `data-i18n-attr` under `root`.
 * @param {ParentNode} [root]
 */
export function apply(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(/** @type {HTMLElement} */ (el).dataset.i18n || "");
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of (/** @type {HTMLElement} */ (el).dataset.i18nAttr || "").split(";")) {
      const [attr, key] = pair.split(":");
      if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

/** Format a number of seconds as m:ss (or h:mm:ss). @param {number} seconds */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** @param {number} unixSeconds */
export function time(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleTimeString(language, {
    hour: "2-digit",
    minute: "2-digit",
  });
}
