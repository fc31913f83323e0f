// @ts-check
/**
 * A table that draws only the rows in view (issue 8: the presence wall holds 2,000 agents).
 *
 * It is a real `<table>` (headers, rows, `aria-rowcount`/`aria-rowindex`, so screen readers say
 * "row 412 of 2000"), inside a scrolling box; two spacer rows stand for the rows above and below
 * the window. A redraw fills only the visible rows whose key or content changed: `update(keys)`
 * after an event costs the few rows it touches, not the table. Within a row, a column with a
 * `sig` (what the cell shows, as a string) is rewritten only when its signature changed, so a
 * re-read that changes one figure touches one cell. Every write happens in one animation frame
 * (events, re-reads and the clock of the same frame are drawn together), and a draw never reads
 * layout.
 */

/**
 * @typedef {object} Column
 * @property {string} key
 * @property {string} label  the header text
 * @property {(cell: HTMLTableCellElement, key: string, shown: string) => void} render  fill a cell
 *   for a row key (`shown`: what its `sig` gave, or "" without one)
 * @property {string} [className]
 * @property {boolean} [sortable]
 * @property {boolean} [ticks] its cells change with time alone (a clock): `tick()` redraws them
 * @property {(key: string) => string} [sig]  what the cell shows for a row key: the cell is
 *   rendered again only when this changes (without it, every fill renders it)
 */

export class VirtualTable {
  /**
   * @param {HTMLElement} box  the scrolling container (fixed height in CSS)
   * @param {{columns: Column[], rowHeight?: number, overscan?: number, caption?: string,
   *          onSort?: (key: string) => void, testid?: string}} options
   */
  constructor(box, options) {
    this.box = box;
    this.columns = options.columns;
    this.rowHeight = options.rowHeight ?? 36;
    this.overscan = options.overscan ?? 6;
    this.onSort = options.onSort;
    /** @type {string[]} */
    this.keys = [];
    /** @type {Map<string, number>} */
    this.index = new Map();
    /** @type {HTMLTableRowElement[]} the drawn rows, first visible first */
    this.rows = [];
    this.first = 0;
    this.table = document.createElement("table");
    this.table.className = "virtual";
    if (options.testid) this.table.dataset.testid = options.testid;
    if (options.caption) this.table.createCaption().textContent = options.caption;
    this.head = this.table.createTHead();
    this.body = this.table.createTBody();
    this.before = spacer(this.columns.length);
    this.after = spacer(this.columns.length);
    this.body.append(this.before, this.after);
    this.drawHead();
    box.replaceChildren(this.table);
    /** Where the box is scrolled and how tall it is, kept from its scroll and resize events:
     * reading either in a draw, after other DOM changes, would force a layout. */
    this.scrollTop = 0;
    this.viewHeight = 0;
    box.addEventListener("scroll", () => {
      this.scrollTop = box.scrollTop;
      this.schedule();
    }, { passive: true });
    /** The header's height, measured when the box or the header resizes, never in a draw: a
     * measure after DOM changes forces a layout of the whole page (it cost 10 % of the main
     * thread under load, bench/web.py). */
    this.headHeight = 0;
    new ResizeObserver(() => {
      this.headHeight = this.head.getBoundingClientRect().height;
      this.viewHeight = box.clientHeight;
      this.scrollTop = box.scrollTop;
      this.schedule();
    }).observe(box);
    new ResizeObserver(() => {
      this.headHeight = this.head.getBoundingClientRect().height;
    }).observe(this.head);
    this.frame = 0;
    /** @type {Set<string>} */
    this.dirty = new Set();
    this.all = false;
    /** The clock columns are due in the next frame. */
    this.ticking = false;
    /** The clock columns and their positions. @type {Array<[Column, number]>} */
    this.clocks = this.columns.map((c, i) => /** @type {[Column, number]} */ ([c, i])).filter(([c]) => c.ticks);
    /** What each drawn cell shows (its column's `sig`), so an unchanged cell is not rewritten.
     * @type {WeakMap<HTMLTableCellElement, string>} */
    this.shown = new WeakMap();
  }

  drawHead() {
    const row = this.head.insertRow();
    for (const column of this.columns) {
      const th = document.createElement("th");
      th.scope = "col";
      if (column.className) th.className = column.className;
      if (column.sortable && this.onSort) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "link sort";
        button.textContent = column.label;
        button.addEventListener("click", () => this.onSort?.(column.key));
        th.append(button);
      } else {
        th.textContent = column.label;
      }
      row.append(th);
    }
  }

  /**
   * Say which column sorts the rows and how (`aria-sort` on its header).
   * @param {string} key
   * @param {"ascending" | "descending"} direction
   */
  markSort(key, direction) {
    this.columns.forEach((column, i) => {
      const th = this.head.rows[0].cells[i];
      if (column.key === key) th.setAttribute("aria-sort", direction);
      else th.removeAttribute("aria-sort");
    });
  }

  /**
   * The rows, in order, by key (a new order or a new set redraws the visible window).
   * @param {string[]} keys
   */
  setKeys(keys) {
    if (keys.length === this.keys.length && keys.every((k, i) => k === this.keys[i])) return;
    this.keys = keys;
    this.index = new Map(keys.map((k, i) => [k, i]));
    this.table.setAttribute("aria-rowcount", String(keys.length + 1));
    this.all = true;
    this.schedule();
  }

  /**
   * Redraw the rows of these keys if they are drawn (a row out of the window is drawn from the
   * current state when it scrolls in: a change there costs no frame).
   * @param {Iterable<string>} keys
   */
  update(keys) {
    const end = this.first + this.rows.length;
    for (const key of keys) {
      const position = this.index.get(key);
      if (position !== undefined && position >= this.first && position < end) this.dirty.add(key);
    }
    if (this.dirty.size) this.schedule();
  }

  /** Redraw every visible row. */
  refreshVisible() {
    this.all = true;
    this.schedule();
  }

  /** Redraw the clock columns (`ticks`) of the visible rows in the next frame, and nothing else. */
  tick() {
    if (!this.clocks.length) return;
    this.ticking = true;
    this.schedule();
  }

  /** @param {string} key */
  scrollTo(key) {
    const i = this.index.get(key);
    if (i !== undefined) this.box.scrollTop = this.scrollTop = i * this.rowHeight;
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Draw now (tests and the first paint need not wait for a frame). */
  draw() {
    const headHeight = this.headHeight || this.rowHeight;
    const top = Math.max(0, this.scrollTop - headHeight);
    const visible = Math.ceil((this.viewHeight || this.box.clientHeight) / this.rowHeight) + 1;
    const first = Math.max(0, Math.floor(top / this.rowHeight) - this.overscan);
    const last = Math.min(this.keys.length, first + visible + 2 * this.overscan);
    this.resize(last - first);
    this.first = first;
    const before = `${first * this.rowHeight}px`;
    const after = `${(this.keys.length - last) * this.rowHeight}px`;
    if (this.before.style.height !== before) this.before.style.height = before;
    if (this.after.style.height !== after) this.after.style.height = after;
    this.rows.forEach((row, offset) => this.fill(row, first + offset, this.all));
    if (this.ticking) {
      for (const row of this.rows) {
        const key = row.dataset.key;
        if (key !== undefined) for (const [column, i] of this.clocks) this.cell(column, row.cells[i], key);
      }
    }
    this.dirty.clear();
    this.all = false;
    this.ticking = false;
  }

  /** @param {number} count the number of drawn rows wanted */
  resize(count) {
    while (this.rows.length < count) {
      const row = document.createElement("tr");
      row.style.height = `${this.rowHeight}px`;
      for (const column of this.columns) {
        const cell = row.insertCell();
        if (column.className) cell.className = column.className;
      }
      this.body.insertBefore(row, this.after);
      this.rows.push(row);
    }
    while (this.rows.length > count) /** @type {HTMLTableRowElement} */ (this.rows.pop()).remove();
  }

  /**
   * @param {HTMLTableRowElement} row
   * @param {number} position
   * @param {boolean} force
   */
  fill(row, position, force) {
    const key = this.keys[position];
    if (!force && row.dataset.key === key && !this.dirty.has(key)) return;
    if (row.dataset.key !== key) row.dataset.key = key;
    const index = String(position + 2);
    if (row.getAttribute("aria-rowindex") !== index) row.setAttribute("aria-rowindex", index);
    this.columns.forEach((column, i) => this.cell(column, row.cells[i], key));
  }

  /**
   * Render one cell, unless its column's signature says it already shows this.
   * @param {Column} column
   * @param {HTMLTableCellElement} cell
   * @param {string} key
   */
  cell(column, cell, key) {
    if (!column.sig) return column.render(cell, key, "");
    const shown = column.sig(key);
    const sig = `${key}\u0000${shown}`;
    if (this.shown.get(cell) === sig) return;
    this.shown.set(cell, sig);
    column.render(cell, key, shown);
  }
}

/** @param {number} span */
function spacer(span) {
  const row = document.createElement("tr");
  row.className = "spacer";
  row.setAttribute("aria-hidden", "true");
  const cell = row.insertCell();
  cell.colSpan = span;
  return row;
}
