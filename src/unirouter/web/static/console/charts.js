// @ts-check
/**
 * Charts as SVG drawn here (no charting library, no CDN): horizontal bars for a ratio per agent
 * or group, lines for a KPI per interval. Each chart is an `<svg role="img">` with a title that
 * says what it shows; the table beside it carries the same numbers for screen readers and CSV.
 * Series differ by dash pattern and marker as well as colour (colour is never the only signal).
 */

const NS = "http://www.w3.org/2000/svg";
const SERIES = [
  { stroke: "#0a58ca", dash: "", marker: "circle" },
  { stroke: "#9a6700", dash: "6 3", marker: "square" },
  { stroke: "#1a7f37", dash: "2 3", marker: "diamond" },
  { stroke: "#6f42c1", dash: "8 3 2 3", marker: "triangle" },
];

/**
 * @param {string} name
 * @param {Record<string, string | number>} [attrs]
 * @returns {SVGElement}
 */
function el(name, attrs = {}) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * @param {SVGElement} parent
 * @param {number} x
 * @param {number} y
 * @param {string} text
 * @param {Record<string, string | number>} [attrs]
 */
function label(parent, x, y, text, attrs = {}) {
  const node = el("text", { x, y, "font-size": 12, fill: "#1b1f24", ...attrs });
  node.textContent = text;
  parent.append(node);
  return node;
}

/**
 * Horizontal bars, one group per row, one bar per series (values 0–1, shown as %).
 * @param {string} titleText
 * @param {Array<{label: string, values: number[]}>} rows
 * @param {string[]} seriesNames
 * @returns {SVGSVGElement}
 */
export function bars(titleText, rows, seriesNames) {
  const barH = 10;
  const rowH = seriesNames.length * (barH + 2) + 8;
  const left = 140;
  const width = 560;
  const plot = width - left - 60;
  const height = 30 + rows.length * rowH + 24;
  const svg = frame(titleText, width, height);
  legend(svg, seriesNames, left, 14, "bar");
  rows.forEach((row, r) => {
    const y0 = 30 + r * rowH;
    label(svg, left - 6, y0 + rowH / 2 + 2, row.label, { "text-anchor": "end" });
    row.values.forEach((value, s) => {
      const style = SERIES[s % SERIES.length];
      const w = Math.max(0, Math.min(1, value || 0)) * plot;
      const y = y0 + s * (barH + 2);
      svg.append(el("rect", { x: left, y, width: w, height: barH, fill: style.stroke, "fill-opacity": s ? 0.55 : 0.9 }));
      label(svg, left + w + 4, y + barH - 1, percent(value), { "font-size": 11 });
    });
  });
  axis(svg, left, 30 + rows.length * rowH, plot);
  return svg;
}

/**
 * Lines over intervals (x: interval starts, y: each series scaled to its own maximum unless a
 * fixed `max` is given — ratios use max 1).
 * @param {string} titleText
 * @param {string[]} xLabels
 * @param {Array<{name: string, values: Array<number | null>}>} series
 * @param {{max?: number, format?: (v: number) => string}} [options]
 * @returns {SVGSVGElement}
 */
export function lines(titleText, xLabels, series, options = {}) {
  const width = 640;
  const height = 240;
  const left = 48;
  const top = 30;
  const plotW = width - left - 16;
  const plotH = height - top - 40;
  const svg = frame(titleText, width, height);
  const format = options.format ?? ((v) => String(Math.round(v * 10) / 10));
  const all = series.flatMap((s) => s.values).filter((v) => typeof v === "number");
  // Counts get a whole-number scale whose middle line is whole too (no "0.5 arrived").
  const max = options.max ?? 2 * Math.ceil(Math.max(1, ...(/** @type {number[]} */ (all))) / 2);
  legend(svg, series.map((s) => s.name), left, 14, "line");
  for (const fraction of [0, 0.5, 1]) {
    const y = top + plotH * (1 - fraction);
    svg.append(el("line", { x1: left, x2: left + plotW, y1: y, y2: y, stroke: "#d0d7de" }));
    label(svg, left - 4, y + 4, format(max * fraction), { "text-anchor": "end", "font-size": 11 });
  }
  const n = Math.max(1, xLabels.length - 1);
  // One interval alone stands in the middle, not on the axis under the scale's labels.
  const x = (/** @type {number} */ i) => (xLabels.length === 1 ? left + plotW / 2 : left + (plotW * i) / n);
  const step = Math.max(1, Math.ceil(xLabels.length / 8));
  xLabels.forEach((text, i) => {
    if (i % step === 0) label(svg, x(i), top + plotH + 16, text, { "text-anchor": "middle", "font-size": 11 });
  });
  series.forEach((s, k) => {
    const style = SERIES[k % SERIES.length];
    const points = s.values.map((v, i) => (typeof v === "number" ? [x(i), top + plotH * (1 - v / max)] : null));
    const d = path(points);
    if (d) svg.append(el("path", { d, fill: "none", stroke: style.stroke, "stroke-width": 2, "stroke-dasharray": style.dash }));
    for (const p of points) if (p) svg.append(marker(style, p[0], p[1]));
  });
  return svg;
}

/** @param {Array<number[] | null>} points a polyline broken where a value is missing */
function path(points) {
  let d = "";
  let pen = false;
  for (const p of points) {
    if (!p) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)}`;
    pen = true;
  }
  return d;
}

/**
 * @param {{stroke: string, marker: string}} style
 * @param {number} x
 * @param {number} y
 */
function marker(style, x, y) {
  const r = 3.5;
  if (style.marker === "square") return el("rect", { x: x - r, y: y - r, width: 2 * r, height: 2 * r, fill: style.stroke });
  if (style.marker === "diamond") return el("path", { d: `M${x},${y - r - 1}L${x + r + 1},${y}L${x},${y + r + 1}L${x - r - 1},${y}Z`, fill: style.stroke });
  if (style.marker === "triangle") return el("path", { d: `M${x},${y - r - 1}L${x + r + 1},${y + r}L${x - r - 1},${y + r}Z`, fill: style.stroke });
  return el("circle", { cx: x, cy: y, r, fill: style.stroke });
}

/**
 * @param {string} titleText
 * @param {number} width
 * @param {number} height
 * @returns {SVGSVGElement}
 */
function frame(titleText, width, height) {
  const svg = /** @type {SVGSVGElement} */ (el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", class: "chart" }));
  svg.setAttribute("aria-label", titleText);
  const title = el("title");
  title.textContent = titleText;
  svg.append(title);
  return svg;
}

/**
 * @param {SVGElement} svg
 * @param {string[]} names
 * @param {number} x0
 * @param {number} y
 * @param {"bar" | "line"} kind
 */
function legend(svg, names, x0, y, kind) {
  let x = x0;
  names.forEach((name, k) => {
    const style = SERIES[k % SERIES.length];
    if (kind === "bar") svg.append(el("rect", { x, y: y - 9, width: 12, height: 10, fill: style.stroke, "fill-opacity": k ? 0.55 : 0.9 }));
    else {
      svg.append(el("line", { x1: x, x2: x + 18, y1: y - 4, y2: y - 4, stroke: style.stroke, "stroke-width": 2, "stroke-dasharray": style.dash }));
      svg.append(marker(style, x + 9, y - 4));
    }
    const text = label(svg, x + 22, y, name);
    x += 30 + name.length * 7;
    void text;
  });
}

/**
 * @param {SVGElement} svg
 * @param {number} left
 * @param {number} y
 * @param {number} plot
 */
function axis(svg, left, y, plot) {
  svg.append(el("line", { x1: left, x2: left + plot, y1: y, y2: y, stroke: "#57606a" }));
  for (const f of [0, 0.5, 1]) label(svg, left + plot * f, y + 14, percent(f), { "text-anchor": "middle", "font-size": 11 });
}

/** @param {number | null | undefined} value a ratio */
export function percent(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  return `${Math.round(value * 1000) / 10}%`;
}
