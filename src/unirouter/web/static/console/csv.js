// @ts-check
/**
 * Tables as CSV (RFC 4180) for the console's "Download CSV" buttons, when a table is built in the
 * page from JSON the API answered; and a download of any text as a file.
 */

/**
 * @param {string[]} header
 * @param {Array<Array<string | number | null | undefined>>} rows
 * @returns {string}
 */
export function toCsv(header, rows) {
  return [header, ...rows].map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

/** @param {string | number | null | undefined} value */
export function cell(value) {
  if (value === null || value === undefined) return "";
  const text = String(value);
  // A leading = + - @ would make a spreadsheet run the cell as a formula.
  const safe = /^[=+\-@\t\r]/.test(text) && !/^-?\d/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/**
 * Offer `text` as a file download.
 * @param {string} name
 * @param {string} text
 * @param {string} [type]
 */
export function download(name, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
