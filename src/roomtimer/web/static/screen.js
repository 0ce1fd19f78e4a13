// The DOM of the viewer screen: rows of timers fitted to the viewport, message, notices.

const GAP = 12; // px between timers, as #timers.multi's gap in viewer.css

const TAGS = {
  idle: "Ready",
  paused: "Paused",
  overtime: "Overtime",
  finished: "Done",
};

function element(tag, className, parent) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (parent) parent.append(node);
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

export class Screen {
  constructor(doc = document) {
    const $ = (id) => doc.getElementById(id);
    this.root = $("screen");
    this.timers = $("timers");
    this.notice = $("notice");
    this.message = $("message");
    this.messageText = $("message-text");
    this.roomName = $("room-name");
    this.timeOfDay = $("time-of-day");
    this.connection = $("connection");
    this.rows = new Map(); // id → {root, label, tag, digits, shape, labelText}
    this.widths = new Map(); // "kind|text" → width at 100px
    this.dirty = true; // sizes must be recomputed before the next paint
    this.measurer = element("span", "measure", doc.body);
    // Refitted in the observer itself (after layout, before paint): no frame at old sizes.
    new ResizeObserver(() => {
      this.invalidate();
      this.fit();
    }).observe(this.root);
    doc.fonts.addEventListener("loadingdone", () => this.invalidate());
  }

  /** Sizes are recomputed at the next draw (fonts, viewport or layout changed). */
  invalidate() {
    this.widths.clear();
    this.dirty = true;
  }

  /** Draws one frame of `state` (see viewer.js); touches the DOM only where it changed. */
  draw(state) {
    this.syncRows(state.rows);
    for (const { view, shape, progress } of state.rows) {
      const row = this.rows.get(view.id);
      setText(row.label, view.label);
      setText(row.digits, view.text);
      // Quantised: a long timer's bar moves (and restyles) a thousand times at most.
      const scale = `scaleX(${Math.round(progress * 1000) / 1000})`;
      if (row.fill.style.transform !== scale) row.fill.style.transform = scale;
      setText(row.tag, state.stale ? "Not live" : (TAGS[view.phase] ?? ""));
      if (row.root.dataset.phase !== view.phase) row.root.dataset.phase = view.phase;
      if (row.shape !== shape || row.labelText !== view.label) {
        [row.shape, row.labelText] = [shape, view.label];
        this.dirty = true;
      }
    }
    this.root.classList.toggle("stale", state.stale);
    this.drawMessage(state.message);
    this.drawNotice(state.notice);
    setText(this.roomName, state.roomName ?? "");
    this.timeOfDay.hidden = state.clockText == null;
    if (state.clockText != null) setText(this.timeOfDay, state.clockText);
    this.connection.hidden = !state.offline;
    if (this.dirty) this.fit();
  }

  /** One row per shown timer, in order; rows of timers no longer shown go. */
  syncRows(rows) {
    const wanted = new Set(rows.map((r) => r.view.id));
    for (const [id, row] of this.rows) {
      if (!wanted.has(id)) {
        row.root.remove();
        this.rows.delete(id);
        this.dirty = true;
      }
    }
    let previous = null;
    for (const { view } of rows) {
      let row = this.rows.get(view.id);
      if (!row) {
        const root = element("article", "timer");
        const head = element("div", "head", root);
        row = {
          root,
          head,
          label: element("span", "label", head),
          tag: element("span", "tag", head),
          digits: element("div", "digits", root),
          bar: element("div", "bar", root),
        };
        row.fill = element("div", "fill", row.bar);
        this.rows.set(view.id, row);
        this.dirty = true;
      }
      const expected = previous ? previous.nextSibling : this.timers.firstChild;
      if (expected !== row.root) {
        this.timers.insertBefore(row.root, expected);
        this.dirty = true;
      }
      previous = row.root;
    }
  }

  drawMessage(message) {
    const shown = Boolean(message.visible && message.text);
    this.message.hidden = !shown;
    this.root.classList.toggle("blackout", Boolean(message.blackout));
    if (shown && this.messageText.textContent !== message.text) {
      this.messageText.textContent = message.text;
      this.dirty = true;
    }
  }

  drawNotice(notice) {
    this.notice.hidden = notice == null;
    if (notice == null) return;
    const [title, sub] = this.notice.children;
    setText(title, notice.title);
    setText(sub, notice.sub ?? "");
  }

  /** Width of `text` in the font of `kind` ("digits" or "label") at 100px. */
  width(kind, text) {
    const key = `${kind}|${text}`;
    if (!this.widths.has(key)) {
      this.measurer.className = `measure ${kind}`;
      this.measurer.textContent = text;
      this.widths.set(key, this.measurer.getBoundingClientRect().width || 1);
    }
    return this.widths.get(key);
  }

  /** The grid (columns) that gives the largest digits, and that digit size. */
  layout(count, widest, box) {
    let best = { columns: 1, size: 0, cellWidth: box.width, cellHeight: box.height };
    for (let columns = 1; columns <= count; columns += 1) {
      const cellWidth = (box.width - GAP * (columns - 1)) / columns;
      const lines = Math.ceil(count / columns);
      const cellHeight = (box.height - GAP * (lines - 1)) / lines;
      // The label, the bar and some air share what the digits leave of a cell's height.
      const size = Math.min(cellHeight * 0.68, (100 * cellWidth * 0.92) / widest);
      // Another column only for clearly larger digits: one column reads most naturally.
      if (size > best.size * 1.15) best = { columns, size, cellWidth, cellHeight };
    }
    return best;
  }

  /** The longest text of every timer fits its cell; all timers share one digit size. */
  fit() {
    this.dirty = false;
    const rows = [...this.rows.values()];
    this.timers.classList.toggle("multi", rows.length > 1);
    if (rows.length === 0) return;
    const widest = Math.max(...rows.map((row) => this.width("digits", row.shape)));
    const box = this.timers.getBoundingClientRect();
    const { columns, size: exact, cellWidth, cellHeight } = this.layout(rows.length, widest, box);
    this.timers.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
    const size = Math.max(8, Math.floor(exact));
    for (const row of rows) {
      row.digits.style.fontSize = `${size}px`;
      // The bar is as wide as the row's longest text, and a hairline of the digits' height.
      row.bar.style.width = `${Math.floor((this.width("digits", row.shape) * size) / 100)}px`;
      row.bar.style.height = `${Math.max(4, Math.round(size * 0.035))}px`;
      row.bar.style.marginTop = `${Math.round(size * 0.06)}px`;
      const fitted = (100 * cellWidth * 0.75) / this.width("label", row.labelText || " ");
      const label = Math.max(10, Math.min(size * 0.2, cellHeight * 0.14, fitted));
      row.head.style.fontSize = `${Math.floor(label)}px`;
    }
  }
}
