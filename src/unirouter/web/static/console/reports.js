// @ts-check
/**
 * Reports (SPEC §8): utilisation and occupancy per group and agent, and queue KPIs per interval
 * over a chosen window (`GET /v1/reports/agents|queues?from=&to=&by=`), as SVG charts with the
 * same numbers in tables, and the server's CSV (`format=csv`) as downloads.
 */

import * as api from "../common/api.js";
import * as i18n from "../common/i18n.js";
import { bars, lines, percent } from "./charts.js";
import { download } from "./csv.js";

const { t } = i18n;
/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** The most agents the agent chart draws (the table below holds them all). */
const CHART_AGENTS = 20;

/** @type {Record<string, any> | null} */
let queueReport = null;
let loaded = false;

/** @param {import("./store.js").LiveStore} _store */
export function mount(_store) {
  const to = new Date();
  const from = new Date(to.getTime() - 8 * 3600 * 1000);
  /** @type {HTMLInputElement} */ ($("report-from")).value = local(from);
  /** @type {HTMLInputElement} */ ($("report-to")).value = local(to);
  $("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void show();
  });
  $("kpi-queue").addEventListener("input", drawKpis);
  $("agents-csv").addEventListener("click", () => void csv("agents"));
  $("queues-csv").addEventListener("click", () => void csv("queues"));
}

export function shown() {
  if (!loaded) void show();
}

/** @param {Date} date as the value of a datetime-local input */
function local(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

/** The window as query parameters: ISO 8601 with the browser's offset. */
function windowParams() {
  const params = new URLSearchParams();
  for (const [name, id] of [["from", "report-from"], ["to", "report-to"]]) {
    const v = /** @type {HTMLInputElement} */ ($(id)).value;
    if (v) params.set(name, new Date(v).toISOString());
  }
  params.set("by", /** @type {HTMLSelectElement} */ ($("report-by")).value);
  return params;
}

async function show() {
  loaded = true;
  $("report-error").hidden = true;
  const params = windowParams();
  try {
    const [agents, queues] = await Promise.all([
      api.get(`/v1/reports/agents?${params}`),
      api.get(`/v1/reports/queues?${params}`),
    ]);
    drawAgents(agents);
    queueReport = queues;
    const select = /** @type {HTMLSelectElement} */ ($("kpi-queue"));
    const kept = select.value;
    const names = Object.keys(queues.queues || {}).sort();
    select.replaceChildren(new Option(t("console.reports.allQueues"), ""), ...names.map((n) => new Option(n, n)));
    if (names.includes(kept)) select.value = kept;
    drawKpis();
  } catch (error) {
    $("report-error").textContent = error instanceof Error ? error.message : String(error);
    $("report-error").hidden = false;
  }
}

const AGENT_COLUMNS = ["occupancy", "utilisation", "handled", "offers", "declines", "expiries"];

/** @param {Record<string, any>} report */
function drawAgents(report) {
  const groups = Object.entries(report.groups || {});
  const agents = Object.entries(report.agents || {});
  const names = [t("console.reports.occupancy"), t("console.reports.utilisation")];
  const rows = (/** @type {Array<[string, any]>} */ list) => list.map(([name, k]) => ({ label: name, values: [k.occupancy, k.utilisation] }));
  $("groups-chart").replaceChildren(...(groups.length ? [bars(t("console.reports.groupsChart"), rows(groups), names)] : []));
  const busiest = [...agents].sort((a, b) => (b[1].utilisation || 0) - (a[1].utilisation || 0)).slice(0, CHART_AGENTS);
  $("agents-chart").replaceChildren(...(busiest.length ? [bars(t("console.reports.agentsChart", { count: busiest.length }), rows(busiest), names)] : []));
  table(/** @type {HTMLTableElement} */ ($("groups-table")), t("console.reports.group"), groups, AGENT_COLUMNS);
  // Without groups an empty table would stand under the header alone: say why instead.
  $("groups-table").hidden = !groups.length;
  $("groups-none").hidden = groups.length > 0;
  table(/** @type {HTMLTableElement} */ ($("agents-table")), t("console.reports.agent"), agents, AGENT_COLUMNS);
}

const KPI_COLUMNS = ["arrived", "answered", "abandoned", "service_level", "asa_s", "aht_s", "max_wait_s"];
const RATIOS = new Set(["occupancy", "utilisation", "service_level", "abandon_rate", "p_wait"]);

function drawKpis() {
  if (!queueReport) return;
  const queue = /** @type {HTMLSelectElement} */ ($("kpi-queue")).value;
  const intervals = queueReport.intervals || [queueReport];
  const pick = (/** @type {any} */ part) => (queue ? part.queues?.[queue] : part.totals) || {};
  const xs = intervals.map((/** @type {any} */ p) => i18n.time(p.from));
  const level = intervals.map((/** @type {any} */ p) => numberOrNull(pick(p).service_level));
  const arrived = intervals.map((/** @type {any} */ p) => numberOrNull(pick(p).arrived));
  const answered = intervals.map((/** @type {any} */ p) => numberOrNull(pick(p).answered));
  const title = t("console.reports.kpiChart", { queue: queue || t("console.reports.allQueues") });
  const chart = lines(title, xs, [
    { name: t("console.reports.kpi.arrived"), values: arrived },
    { name: t("console.reports.kpi.answered"), values: answered },
  ]);
  const slChart = lines(t("console.reports.slChart"), xs, [{ name: t("console.reports.kpi.service_level"), values: level }], { max: 1, format: percent });
  $("kpi-chart").replaceChildren(slChart, chart);
  const rows = intervals.map((/** @type {any} */ p) => [`${i18n.time(p.from)}–${i18n.time(p.to)}`, pick(p)]);
  table(/** @type {HTMLTableElement} */ ($("kpi-table")), t("console.reports.interval"), rows, KPI_COLUMNS);
}

/** @param {any} v */
function numberOrNull(v) {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/**
 * @param {HTMLTableElement} target
 * @param {string} first the first column's header
 * @param {Array<[string, any]>} rows
 * @param {string[]} columns
 */
function table(target, first, rows, columns) {
  target.replaceChildren();
  const head = target.createTHead().insertRow();
  for (const text of [first, ...columns.map((c) => t(`console.reports.kpi.${c}`))]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = text;
    head.append(th);
  }
  const body = target.createTBody();
  for (const [name, values] of rows) {
    const row = body.insertRow();
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = name;
    row.append(th);
    for (const c of columns) {
      const cell = row.insertCell();
      cell.className = "num";
      cell.textContent = RATIOS.has(c) ? percent(values[c]) : fmt(values[c]);
    }
  }
}

/** @param {any} v */
function fmt(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return "—";
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** @param {"agents" | "queues"} kind the server's CSV of the same report */
async function csv(kind) {
  const params = windowParams();
  params.set("format", "csv");
  try {
    const response = await fetch(`/v1/reports/${kind}?${params}`, { headers: { Authorization: `Bearer ${api.token()}` } });
    if (!response.ok) throw new api.ApiError(response.status, await response.json().catch(() => ({})));
    download(`unirouter-${kind}.csv`, await response.text());
  } catch (error) {
    $("report-error").textContent = error instanceof Error ? error.message : String(error);
    $("report-error").hidden = false;
  }
}
