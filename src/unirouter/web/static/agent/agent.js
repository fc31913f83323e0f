// @ts-check
import * as session from "../common/session.js";

const me = await session.enter("agent");
/** @type {HTMLElement} */ (document.getElementById("who")).textContent = me.agent || me.name;
document.getElementById("sign-out")?.addEventListener("click", session.signOut);
