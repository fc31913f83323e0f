// @ts-check
/**
 * An item's trace (R43) as sentences a supervisor reads: what each stage decided, and for each
 * assignment decision "why this agent, why not the others" — the winner and its score, the
 * runners-up with theirs, and every excluded group with its reason, count and named agents.
 *
 * Pure: entries in, plain data out (a title and lines per step, strings made by the `t` given),
 * so the page draws it and a test reads it without a server. Fields this code does not know are
 * still shown, as `name: value`, so a richer trace is never hidden.
 */

/**
 * @typedef {(key: string, params?: Record<string, string | number>) => string} Translate
 * @typedef {{agent: string, score: string, winner: boolean}} Ranked
 * @typedef {{reason: string, label: string, count: number, agents: string[], more: number}} Excluded
 * @typedef {object} Step
 * @property {number} t
 * @property {string} stage
 * @property {string} title
 * @property {string[]} lines
 * @property {{winner: string | null, ranked: Ranked[], excluded: Excluded[], why: string,
 *             whyNot: string[]}} [decision]
 */

/** Fields every entry has, or that a stage's sentence already says. */
const SAID = {
  intake: ["workstream", "external_id"],
  classification: ["applied"],
  route: ["queue", "rule", "reason"],
  overflow: ["queue", "checked", "condition", "action", "target", "skipped"],
  queued: ["queue"],
  prioritisation: ["queue", "bucket"],
  assign: ["trigger", "queue", "winner", "candidates", "excluded", "method"],
  assigned: ["agent", "forced"],
  closed: ["reason"],
  parked: ["agent"],
  resumed: ["last_agent", "affinity", "reason"],
};

/** Stages after which a returning conversation (R29) is no longer on its way to its agent. */
const RETURN_ENDS = new Set(["assigned", "affinity", "transfer", "force_assign", "closed", "parked"]);

/**
 * @param {Array<Record<string, any>>} trace
 * @param {Translate} t
 * @returns {Step[]}
 */
export function explain(trace, t) {
  /** @type {string | null} the agent a resumed conversation goes back to (R29), until it is there */
  let returning = null;
  return trace.map((entry) => {
    if (entry.stage === "resumed") returning = entry.affinity ? String(entry.affinity) : null;
    const out = step(entry, t, returning);
    if (RETURN_ENDS.has(String(entry.stage))) returning = null;
    return out;
  });
}

/**
 * @param {Record<string, any>} entry
 * @param {Translate} t
 * @param {string | null} [returning] the agent a parked conversation is going back to (R29)
 * @returns {Step}
 */
export function step(entry, t, returning = null) {
  const stage = String(entry.stage ?? "");
  const base = { t: Number(entry.t) || 0, stage, lines: /** @type {string[]} */ ([]) };
  const said = new Set(["t", "stage", ...(SAID[/** @type {keyof SAID} */ (stage)] || [])]);
  /** @type {Step} */
  const out = { ...base, title: title(entry, t) };
  if (stage === "classification") out.lines.push(...classified(entry.applied, t));
  if (stage === "overflow") out.lines.push(...overflowChecks(entry, t));
  if (stage === "assign") {
    if (entry.method) out.lines.push(t("console.trace.method", { method: show(entry.method) }));
    out.decision = decision(entry, t, returning);
  }
  for (const [key, value] of Object.entries(entry)) {
    if (!said.has(key) && value !== null && value !== undefined) out.lines.push(`${key}: ${show(value)}`);
  }
  return out;
}

/**
 * @param {Record<string, any>} e
 * @param {Translate} t
 */
function title(e, t) {
  const key = `console.trace.stage.${e.stage}`;
  const params = {
    workstream: show(e.workstream), external_id: show(e.external_id), queue: show(e.queue),
    rule: ruleName(e.rule), reason: show(e.reason), bucket: show(e.bucket), agent: show(e.agent),
    count: Array.isArray(e.applied) ? e.applied.length : 0, last: show(e.last_agent),
    affinity: show(e.affinity),
  };
  if (e.stage === "route" && (e.rule === null || e.rule === undefined)) return t("console.trace.stage.routeFallback", params);
  if (e.stage === "resumed") {
    if (e.affinity) return t("console.trace.stage.resumedAffinity", params);
    if (e.last_agent) return t("console.trace.stage.resumedElsewhere", params);
    return t("console.trace.stage.resumed", params);
  }
  if (e.stage === "assigned" && e.forced) return t("console.trace.stage.forced", params);
  if (e.stage === "assign" && !e.winner) return t("console.trace.stage.noWinner", params);
  const text = t(key, params);
  return text === key ? String(e.stage) : text;
}

/** A rule named by the trace: its name, or its position (R43 before rules had names). */
function ruleName(/** @type {any} */ rule) {
  if (rule === null || rule === undefined) return "—";
  if (typeof rule === "number") return `#${rule + 1}`;
  if (typeof rule === "object") return [rule.ruleset, rule.name ?? rule.rule].filter((x) => x !== undefined).map(ruleName).join(" › ");
  return String(rule);
}

/**
 * @param {any} applied
 * @param {Translate} t
 */
function classified(applied, t) {
  if (!Array.isArray(applied) || !applied.length) return [t("console.trace.noClassification")];
  return applied.map((a) => {
    if (typeof a !== "object" || a === null) return show(a);
    const { ruleset, rule, ...rest } = a;
    const what = Object.keys(rest).length ? show(rest) : "";
    return t("console.trace.classified", { rule: ruleName({ ruleset, rule }), set: what });
  });
}

/**
 * @param {Record<string, any>} e
 * @param {Translate} t
 */
function overflowChecks(e, t) {
  const lines = [];
  if (e.skipped) lines.push(t("console.trace.overflowSkipped", { why: show(e.skipped) }));
  const checked = Array.isArray(e.checked) ? e.checked : [];
  for (const check of checked) lines.push(t("console.trace.overflowChecked", { check: show(check) }));
  if (e.condition) {
    const action = e.target ? `${show(e.action)} → ${show(e.target)}` : show(e.action);
    lines.push(t("console.trace.overflowFired", { condition: show(e.condition), action }));
  } else if (!e.skipped) {
    lines.push(t("console.trace.overflowNone"));
  }
  return lines;
}

/**
 * The "why this agent, why not the others" of one assignment decision (R43). A decision about a
 * parked conversation on its way back (`returning`, R29) looks at its last agent alone: it says so.
 * @param {Record<string, any>} e
 * @param {Translate} t
 * @param {string | null} [returning]
 * @returns {NonNullable<Step["decision"]>}
 */
export function decision(e, t, returning = null) {
  const winner = e.winner ?? null;
  const candidates = Array.isArray(e.candidates) ? e.candidates : [];
  const ranked = candidates.map((c) => ({ agent: String(c.agent), score: score(c.score ?? c.parts), winner: c.agent === winner }));
  const excluded = Object.entries(e.excluded || {}).map(([reason, group]) => excludedGroup(reason, group, t));
  let why = winner
    ? t(candidates.length > 1 ? "console.trace.whyRanked" : "console.trace.whyOnly", { agent: winner, count: candidates.length })
    : t("console.trace.whyNobody");
  if (returning && winner === returning) why = t("console.trace.whyAffinity", { agent: winner });
  else if (returning && !winner) why = t("console.trace.waitsAffinity", { agent: returning });
  const whyNot = [
    ...ranked.filter((r) => !r.winner).map((r) => t("console.trace.outranked", { agent: r.agent, score: r.score })),
    ...excluded.map((x) => whyExcluded(x, t)),
  ];
  return { winner, ranked, excluded, why, whyNot };
}

/**
 * @param {string} reason
 * @param {any} group {count, agents} (or a bare count)
 * @param {Translate} t
 * @returns {Excluded}
 */
function excludedGroup(reason, group, t) {
  const count = typeof group === "number" ? group : Number(group?.count) || 0;
  const agents = Array.isArray(group?.agents) ? group.agents.map(agentName) : [];
  const key = `console.trace.reason.${reason}`;
  const label = t(key);
  return { reason, label: label === key ? reason : label, count, agents, more: Math.max(0, count - agents.length) };
}

/** An excluded agent: an id, or `{agent, …details}` (e.g. the missing skill). */
function agentName(/** @type {any} */ a) {
  if (typeof a !== "object" || a === null) return String(a);
  const { agent, ...rest } = a;
  return Object.keys(rest).length ? `${agent} (${show(rest)})` : String(agent);
}

/**
 * @param {Excluded} x
 * @param {Translate} t
 */
function whyExcluded(x, t) {
  if (!x.agents.length) return t("console.trace.excludedCount", { count: x.count, reason: x.label });
  const names = x.agents.join(", ") + (x.more ? ` ${t("console.trace.andMore", { count: x.more })}` : "");
  return t("console.trace.excludedNamed", { count: x.count, reason: x.label, agents: names });
}

/** A score: named parts `a: 1, b: 2`, or the ordering key as the engine gave it. */
export function score(/** @type {any} */ value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) return value.map(show).join(" · ");
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${k}: ${scorePart(v)}`).join(", ");
  return show(value);
}

/** A part of a score: a moment (seconds since 1970, as `joined`) as a time of day, else as is. */
function scorePart(/** @type {any} */ value) {
  if (typeof value === "number" && value > 1e9) return new Date(value * 1000).toLocaleTimeString();
  return show(value);
}

/** Any value as short text. */
export function show(/** @type {any} */ value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map(show).join(", ");
  return Object.entries(value).map(([k, v]) => `${k}=${show(v)}`).join(", ");
}
