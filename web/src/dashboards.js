// Custom dashboards: a grid of widgets (line charts, single stats with a
// sparkline, latest-records tables) drawn from the data the server
// embeds in the page (#dashboard-data), kept live from the streams of the
// pipelines the widgets read (/api/v1/pipelines/{id}/stream), and, in edit
// mode, arranged by dragging and resizing.
//
// As on the automatic dashboard, work is coalesced: a batch only merges
// its values into the widgets' buckets (constant work per record) and
// queues table rows; drawing happens at most every RENDER_EVERY ms, in an
// animation frame, and not at all while the tab is hidden. Everything a
// widget keeps is bounded: the points of its range, the rows it shows.
import uPlot from "uplot";
import { setConnection, initCustomRange } from "./shell.js";

const RENDER_EVERY = 250; // ms: at most four renders a second
const MAX_SEEN = 4000; // record ids remembered per pipeline to drop repeats
const MAX_POINTS = 5000; // points kept per series
const MAX_STREAMS = 4; // live pipelines of a page over HTTP/1.1

export function initDashboards(root) {
  const el = root.querySelector("[data-custom-dashboard]");
  if (el) new CustomDashboard(el);
  // The custom range in local time, sent as RFC 3339.
  const range = el?.querySelector("form.custom-range");
  initCustomRange(range, (f, t) => {
    const q = new URLSearchParams();
    q.set("from", new Date(f).toISOString());
    q.set("to", new Date(t).toISOString());
    location.assign(range.getAttribute("action") + "?" + q.toString());
  });
  for (const f of root.querySelectorAll("form[data-confirm]")) {
    f.addEventListener("submit", (ev) => {
      if (!window.confirm(f.dataset.confirm)) ev.preventDefault();
    });
  }
  const form = root.querySelector("[data-widget-form]");
  if (form) kindFields(form);
}

// kindFields shows the fieldsets of the chosen widget kind only.
function kindFields(form) {
  const sel = form.querySelector("[data-kind-select]");
  const show = () => {
    for (const fs of form.querySelectorAll("fieldset[data-for-kind]")) {
      fs.hidden = !fs.dataset.forKind.split(" ").includes(sel.value);
    }
  };
  sel.addEventListener("change", show);
  show();
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

const PALETTE = ["--accent", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626", "#4b5563", "#ca8a04"];

function colour(i) {
  const c = PALETTE[i % PALETTE.length];
  return c.startsWith("--") ? cssVar(c, "#2563eb") : c;
}

function formatValue(v) {
  if (v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v))) return "—";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return v.toLocaleString();
    return v.toLocaleString(undefined, { maximumFractionDigits: Math.abs(v) >= 100 ? 1 : 3 });
  }
  if (typeof v === "object") {
    const s = JSON.stringify(v);
    return s.length > 80 ? s.slice(0, 79) + "…" : s;
  }
  const s = String(v);
  return s.length > 80 ? s.slice(0, 79) + "…" : s;
}

function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// pathValue reads a field path (a.b.0.c; "\." escapes a dot) of a record.
function pathValue(data, path) {
  const parts = [];
  let cur = "";
  for (let i = 0; i < path.length; i++) {
    if (path[i] === "\\" && path[i + 1] === ".") {
      cur += ".";
      i++;
    } else if (path[i] === ".") {
      parts.push(cur);
      cur = "";
    } else {
      cur += path[i];
    }
  }
  parts.push(cur);
  let v = data;
  for (const p of parts) {
    if (v === null || typeof v !== "object") return undefined;
    v = v[p];
  }
  return v;
}

// A series keeps, per bucket, the count and one accumulator of its
// aggregate, so that a new value merges in constant time.
class Series {
  constructor(s) {
    this.pipeline = s.pipeline;
    this.field = s.field;
    this.agg = s.aggregate || "avg";
    this.label = s.label || s.field;
    this.bucket = s.bucket || 60;
    this.missing = !!s.missing;
    this.t = s.t.slice();
    this.n = s.n.slice();
    this.acc = s.v.map((v, i) => {
      if (this.agg === "avg") return v * s.n[i];
      return v;
    });
  }

  add(tSec, x) {
    const b = Math.floor(tSec / this.bucket) * this.bucket;
    let i = this.t.length - 1;
    while (i >= 0 && this.t[i] > b) i--;
    if (i >= 0 && this.t[i] === b) {
      this.n[i]++;
      switch (this.agg) {
        case "avg":
        case "sum":
          this.acc[i] += x;
          break;
        case "min":
          this.acc[i] = Math.min(this.acc[i], x);
          break;
        case "max":
          this.acc[i] = Math.max(this.acc[i], x);
          break;
        case "last":
          this.acc[i] = x;
          break;
      }
      return;
    }
    this.t.splice(i + 1, 0, b);
    this.n.splice(i + 1, 0, 1);
    this.acc.splice(i + 1, 0, x);
    if (this.t.length > MAX_POINTS) this.drop(this.t.length - MAX_POINTS);
  }

  drop(k) {
    this.t.splice(0, k);
    this.n.splice(0, k);
    this.acc.splice(0, k);
  }

  // slide drops the buckets that ended before fromSec.
  slide(fromSec) {
    let k = 0;
    while (k < this.t.length && this.t[k] + this.bucket <= fromSec) k++;
    if (k) this.drop(k);
  }

  value(i) {
    switch (this.agg) {
      case "avg":
        return this.acc[i] / this.n[i];
      case "count":
        return this.n[i];
    }
    return this.acc[i];
  }

  values() {
    const out = new Array(this.t.length);
    for (let i = 0; i < out.length; i++) out[i] = this.value(i);
    return out;
  }

  // total is the aggregate over every bucket (a stat's figure).
  total() {
    const len = this.t.length;
    if (!len) return null;
    let n = 0, acc = 0;
    switch (this.agg) {
      case "avg":
      case "sum":
        for (let i = 0; i < len; i++) { n += this.n[i]; acc += this.acc[i]; }
        return this.agg === "avg" ? acc / n : acc;
      case "count":
        for (let i = 0; i < len; i++) n += this.n[i];
        return n;
      case "min":
        return Math.min(...this.acc);
      case "max":
        return Math.max(...this.acc);
    }
    return this.acc[len - 1];
  }
}

class CustomDashboard {
  constructor(el) {
    this.el = el;
    let data;
    try {
      data = JSON.parse(document.getElementById("dashboard-data")?.textContent || "null");
    } catch {
      data = null;
    }
    if (!data) return;
    this.data = data;
    this.version = data.version;
    this.live = data.live;
    this.span = data.to - data.from;
    this.from = data.from;
    this.to = data.to;
    this.since = data.to; // records before it are in the embedded data
    this.grid = el.querySelector("[data-grid]");
    this.conn = el.querySelector("[data-conn]");
    this.status = el.querySelector("[data-layout-status]");
    this.scheduled = false;
    this.lastRender = 0;
    this.seen = new Map(); // pipeline -> Set of record ids
    this.widgets = [];
    for (const [i, wd] of data.widgets.entries()) {
      const node = this.grid.querySelector(`[data-widget="${i}"]`);
      if (node) this.widgets.push(this.makeWidget(node, wd));
    }
    for (const w of this.widgets) this.draw(w);
    performance.mark("tributary:dashboard-drawn");
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.schedule();
    });
    if (typeof ResizeObserver !== "undefined") {
      const ro = new ResizeObserver((entries) => {
        for (const e of entries) e.target.__resize?.();
      });
      for (const w of this.widgets) if (w.box) ro.observe(w.box);
    }
    if (el.hasAttribute("data-editing")) this.initEditing();
    if (this.live) {
      this.streams = new Map();
      // Over HTTP/1.1 a browser opens at most six connections to a server,
      // and every stream holds one: past MAX_STREAMS pipelines the others'
      // widgets show the data of the page's load (HTTP/2 has no such limit).
      const proto = performance.getEntriesByType?.("navigation")[0]?.nextHopProtocol || "";
      const cap = /^h[23]/.test(proto) ? Infinity : MAX_STREAMS;
      const streams = Object.entries(data.streams || {});
      for (const [pid, url] of streams.slice(0, cap)) this.connect(pid, url, 0);
      if (streams.length > cap) this.notLive(streams.slice(cap).map(([pid]) => pid));
      // Leaving the page closes the streams at once: a browser allows only
      // a few connections to a server over HTTP/1.1, and a page kept for
      // the back button must not hold them.
      window.addEventListener("pagehide", () => {
        for (const st of this.streams.values()) {
          st.gone = true;
          st.es.close();
        }
      });
      window.addEventListener("pageshow", (ev) => {
        if (ev.persisted) location.reload();
      });
      if (!this.streams.size) setConnection(this.conn, "live");
      // A live range slides even when nothing arrives.
      setInterval(() => {
        if (!document.hidden) this.slideAll();
      }, 5000);
    }
  }

  makeWidget(node, wd) {
    const w = { node, kind: wd.kind, missing: !!wd.missing, dirty: true, pipelines: new Set() };
    w.box = node.querySelector("[data-plot]");
    if (wd.kind === "table") {
      w.pipeline = wd.pipeline;
      w.rows = wd.rows || 10;
      w.columns = wd.columns || [];
      w.records = (wd.records || []).slice(0, w.rows);
      w.pending = [];
      w.table = node.querySelector("[data-table]");
      if (wd.pipeline) w.pipelines.add(wd.pipeline);
      for (const r of w.records) this.seenSet(wd.pipeline).add(r.id);
      this.renderHead(w);
    } else {
      w.series = (wd.series || []).map((s) => new Series(s));
      for (const s of w.series) if (!s.missing) w.pipelines.add(s.pipeline);
      w.value = node.querySelector("[data-stat-value]");
      w.summary = node.querySelector("[data-summary]");
    }
    return w;
  }

  seenSet(pid) {
    let s = this.seen.get(pid);
    if (!s) {
      s = new Set();
      this.seen.set(pid, s);
    }
    return s;
  }

  // Drawing.

  draw(w) {
    w.dirty = false;
    if (w.kind === "table") return this.renderRows(w);
    if (!w.box) return;
    if (this.live) for (const s of w.series) s.slide((Date.now() - this.span) / 1000);
    if (!w.plot) return this.makePlot(w);
    w.plot.setData(this.plotData(w), true);
    this.afterDraw(w);
  }

  plotData(w) {
    if (w.kind === "stat" || w.series.length === 1) {
      const s = w.series[0];
      return [s.t, s.values()];
    }
    return uPlot.join(w.series.map((s) => [s.t, s.values()]));
  }

  range() {
    const to = this.live ? Date.now() : this.to;
    return [(to - this.span) / 1000, to / 1000];
  }

  makePlot(w) {
    const stat = w.kind === "stat";
    const axis = { stroke: cssVar("--muted", "#6b7280"), grid: { stroke: cssVar("--grid", "#e5e7eb"), width: 1 },
      ticks: { stroke: cssVar("--grid", "#e5e7eb"), width: 1 }, font: "11px system-ui, sans-serif" };
    // The legend (several series) goes below the plot, inside the box.
    const size = () => ({ width: Math.max(w.box.clientWidth, 120),
      height: Math.max(w.box.clientHeight - (w.plot?.root.querySelector(".u-legend")?.offsetHeight || 0), stat ? 30 : 60) });
    const series = [{}];
    w.series.forEach((s, i) => {
      series.push({ label: s.label, stroke: colour(i), width: stat ? 1.25 : 1.5, spanGaps: true,
        // A lone value draws no line: points show while they are few.
        points: { show: (u, si, i0, i1) => i1 - i0 < 40, size: stat ? 4 : 5 },
        fill: i === 0 && (stat || w.series.length === 1) ? cssVar("--accent-fill", "rgba(37,99,235,.08)") : undefined,
        value: (u, v) => formatValue(v) });
    });
    const opts = {
      ...size(),
      legend: { show: !stat && w.series.length > 1, live: false },
      cursor: stat ? { show: false } : { drag: { x: false, y: false }, points: { size: 5 } },
      scales: { x: { time: true, range: () => this.range() } },
      series,
      axes: stat ? [{ show: false }, { show: false }] : [axis, { ...axis, size: 50 }],
    };
    w.plot = new uPlot(opts, this.plotData(w), w.box);
    if (opts.legend.show) w.plot.setSize(size());
    w.box.__resize = () => {
      const sz = size();
      if (sz.width !== w.plot.width || sz.height !== w.plot.height) w.plot.setSize(sz);
    };
    this.afterDraw(w);
  }

  afterDraw(w) {
    let points = 0, values = 0;
    for (const s of w.series) {
      points += s.t.length;
      for (const n of s.n) values += n;
    }
    w.node.dataset.points = String(points);
    w.node.dataset.values = String(values); // the records counted
    if (w.kind === "stat") {
      const v = w.series[0] ? w.series[0].total() : null;
      if (w.value) w.value.textContent = formatValue(v);
    }
    if (w.summary) {
      w.summary.textContent = w.series.map((s) => {
        const last = s.t.length ? formatValue(s.value(s.t.length - 1)) : "no data";
        return `${s.label}: latest ${last}`;
      }).join("; ");
    }
  }

  renderHead(w) {
    const thead = w.table?.tHead;
    if (!thead) return;
    thead.textContent = "";
    const tr = thead.insertRow();
    for (const name of ["Time", ...w.columns]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = name.replaceAll("\\.", ".");
      tr.appendChild(th);
    }
  }

  renderRows(w) {
    if (!w.table) return;
    if (!w.columns.length && w.pending.length) {
      const first = w.pending[w.pending.length - 1].data || {};
      w.columns = Object.keys(first).sort().slice(0, 8).map((k) => k.replaceAll(".", "\\."));
      this.renderHead(w);
    }
    const tbody = w.table.tBodies[0];
    const fresh = w.pending.splice(0);
    if (!fresh.length && tbody.rows.length) return;
    const frag = document.createDocumentFragment();
    const make = (r) => {
      const tr = document.createElement("tr");
      tr.dataset.id = String(r.id);
      tr.dataset.ts = r.ts;
      const td = document.createElement("td");
      const time = document.createElement("time");
      time.dateTime = r.ts;
      time.textContent = formatTime(r.ts);
      td.appendChild(time);
      tr.appendChild(td);
      for (const col of w.columns) {
        const c = document.createElement("td");
        const v = pathValue(r.data, col);
        c.textContent = formatValue(v);
        if (typeof v === "number") c.className = "num";
        tr.appendChild(c);
      }
      return tr;
    };
    if (!tbody.rows.length && !fresh.length) {
      const tr = tbody.insertRow();
      tr.dataset.empty = "";
      const td = tr.insertCell();
      td.colSpan = w.columns.length + 1;
      td.className = "muted";
      if (w.records.length) {
        for (const r of w.records) frag.appendChild(make(r));
        tbody.textContent = "";
        tbody.appendChild(frag);
      } else {
        td.textContent = this.live ? "Waiting for records…" : "No records in this range.";
      }
      return;
    }
    // Newest first: fresh holds arrivals oldest first.
    const rows = fresh.slice(-w.rows);
    for (let i = rows.length - 1; i >= 0; i--) frag.appendChild(make(rows[i]));
    tbody.querySelector("[data-empty]")?.remove();
    tbody.prepend(frag);
    while (tbody.rows.length > w.rows) tbody.deleteRow(-1);
  }

  // Live updates.

  connect(pid, url, retry) {
    const es = new EventSource(url);
    const st = { es, open: false };
    this.streams.set(pid, st);
    this.showConnection();
    es.onopen = () => {
      st.open = true;
      retry = 0;
      this.showConnection();
    };
    es.onerror = () => {
      st.open = false;
      this.showConnection();
      if (es.readyState === EventSource.CLOSED && !st.gone) {
        const wait = Math.min(30000, 1000 * 2 ** retry);
        setTimeout(() => this.connect(pid, url, retry + 1), wait);
      }
    };
    es.addEventListener("recent", (ev) => this.onBatch(pid, ev.data, true));
    es.addEventListener("records", (ev) => this.onBatch(pid, ev.data, false));
    es.addEventListener("control", (ev) => {
      const c = JSON.parse(ev.data);
      if (c.event === "deleted") {
        st.gone = true;
        es.close();
        this.pipelineGone(pid);
      }
    });
  }

  notLive(pids) {
    for (const w of this.widgets) {
      if (![...w.pipelines].some((p) => pids.includes(p))) continue;
      const note = document.createElement("p");
      note.className = "muted w-note";
      note.dataset.notLive = "";
      note.textContent = `Not live: a page follows at most ${MAX_STREAMS} pipelines over HTTP/1.1 (serve over HTTPS for more). Reload for new data.`;
      w.node.querySelector(".w-head")?.after(note);
    }
  }

  showConnection() {
    let open = 0;
    for (const s of this.streams.values()) if (s.open || s.gone) open++;
    setConnection(this.conn, open === this.streams.size ? "live" : this.lastLive ? "offline" : "connecting");
    if (open === this.streams.size) this.lastLive = true;
  }

  pipelineGone(pid) {
    for (const w of this.widgets) {
      if (!w.pipelines.has(pid) || w.node.querySelector("[data-missing-pipeline]")) continue;
      const note = document.createElement("div");
      note.className = "w-missing";
      note.setAttribute("role", "note");
      note.dataset.missingPipeline = "";
      const p = document.createElement("p");
      const b = document.createElement("strong");
      b.textContent = "A pipeline this widget reads was deleted.";
      p.appendChild(b);
      note.appendChild(p);
      w.node.querySelector(".w-head")?.after(note);
    }
    this.showConnection();
  }

  onBatch(pid, raw, recent) {
    let b;
    try {
      b = JSON.parse(raw);
    } catch {
      return;
    }
    const seen = this.seenSet(pid);
    const fresh = [];
    for (const r of b.records || []) {
      if (r.id > 0) {
        if (seen.has(r.id)) continue;
        seen.add(r.id);
      }
      // On (re)connect the cache repeats records the page was drawn with.
      if (recent && Date.parse(r.ts) < this.since) continue;
      fresh.push(r);
    }
    if (seen.size > MAX_SEEN) {
      const keep = [...seen].slice(-MAX_SEEN / 2);
      seen.clear();
      for (const id of keep) seen.add(id);
    }
    if (!fresh.length) return;
    for (const w of this.widgets) {
      if (!w.pipelines.has(pid)) continue;
      if (w.kind === "table") {
        w.pending.push(...fresh);
        if (w.pending.length > 2 * w.rows) w.pending.splice(0, w.pending.length - w.rows);
      } else {
        for (const s of w.series) {
          if (s.pipeline !== pid || s.missing) continue;
          for (const r of fresh) {
            const v = r.data?.[s.field];
            if (typeof v === "number" && Number.isFinite(v)) s.add(Date.parse(r.ts) / 1000, v);
          }
        }
      }
      w.dirty = true;
    }
    this.schedule();
  }

  slideAll() {
    for (const w of this.widgets) if (w.kind !== "table") w.dirty = true;
    this.schedule();
  }

  schedule() {
    if (this.scheduled || document.hidden) return;
    this.scheduled = true;
    const wait = Math.max(0, this.lastRender + RENDER_EVERY - performance.now());
    setTimeout(() => requestAnimationFrame(() => this.render()), wait);
  }

  render() {
    this.scheduled = false;
    this.lastRender = performance.now();
    for (const w of this.widgets) if (w.dirty) this.draw(w);
  }

  // Editing: drag the handle to move, the corner to resize; the arrow
  // buttons do the same from the keyboard. The server places the widget,
  // moves the ones it overlaps down, saves, and answers the new layout.

  initEditing() {
    for (const f of this.el.querySelectorAll("form[data-place]")) {
      f.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const node = f.closest("[data-widget]");
        const d = node.dataset;
        this.save(node, Number(d.x) + Number(f.dataset.dx), Number(d.y) + Number(f.dataset.dy),
          Number(d.w) + Number(f.dataset.dw), Number(d.h) + Number(f.dataset.dh));
      });
    }
    for (const node of this.grid.querySelectorAll("[data-widget]")) {
      const handle = node.querySelector("[data-drag]");
      const corner = node.querySelector("[data-resize]");
      if (handle) this.dragging(node, handle, false);
      if (corner) this.dragging(node, corner, true);
    }
  }

  dragging(node, handle, resize) {
    handle.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      ev.preventDefault();
      handle.setPointerCapture(ev.pointerId);
      const d = node.dataset;
      const start = { px: ev.clientX, py: ev.clientY, x: +d.x, y: +d.y, w: +d.w, h: +d.h };
      const gs = getComputedStyle(this.grid);
      const gap = parseFloat(gs.columnGap) || 0;
      const colW = (this.grid.clientWidth + gap) / 12;
      const rowH = (parseFloat(gs.gridAutoRows) || 72) + (parseFloat(gs.rowGap) || 0);
      let cur = { ...start };
      node.classList.add("moving");
      const move = (e) => {
        const dx = Math.round((e.clientX - start.px) / colW);
        const dy = Math.round((e.clientY - start.py) / rowH);
        if (resize) {
          cur = { ...start, w: Math.min(12 - start.x, Math.max(1, start.w + dx)), h: Math.min(24, Math.max(1, start.h + dy)) };
        } else {
          cur = { ...start, x: Math.min(12 - start.w, Math.max(0, start.x + dx)), y: Math.max(0, start.y + dy) };
        }
        this.position(node, cur);
      };
      const up = () => {
        handle.removeEventListener("pointermove", move);
        handle.removeEventListener("pointerup", up);
        handle.removeEventListener("pointercancel", up);
        node.classList.remove("moving");
        if (cur.x !== start.x || cur.y !== start.y || cur.w !== start.w || cur.h !== start.h) {
          this.save(node, cur.x, cur.y, cur.w, cur.h);
        } else {
          this.position(node, start);
        }
      };
      handle.addEventListener("pointermove", move);
      handle.addEventListener("pointerup", up);
      handle.addEventListener("pointercancel", up);
    });
  }

  position(node, c) {
    node.style.gridColumn = `${c.x + 1} / span ${c.w}`;
    node.style.gridRow = `${c.y + 1} / span ${c.h}`;
  }

  async save(node, x, y, w, h) {
    const body = new URLSearchParams({ version: String(this.version), x: String(x), y: String(y), w: String(w), h: String(h) });
    const url = `/dashboards/${this.data.id}/widgets/${node.dataset.widget}/place`;
    let res, out;
    try {
      res = await fetch(url, { method: "POST", body, headers: { Accept: "application/json" }, credentials: "same-origin" });
      out = await res.json();
    } catch {
      out = { error: "The change could not be saved: the server did not answer. Try again." };
    }
    if (out.widgets) this.applyLayout(out.widgets, out.version);
    else this.applyLayout(null);
    if (out.error) {
      this.say(out.error, true);
    } else {
      const d = node.dataset;
      this.say(`Placed at column ${+d.x + 1}, row ${+d.y + 1}, ${d.w} columns wide and ${d.h} rows high.`, false);
    }
  }

  applyLayout(cells, version) {
    const nodes = this.grid.querySelectorAll("[data-widget]");
    if (version) {
      this.version = version;
      for (const v of this.el.querySelectorAll("[data-version]")) v.value = String(version);
    }
    for (const node of nodes) {
      const c = cells?.[Number(node.dataset.widget)];
      if (c) {
        Object.assign(node.dataset, { x: c.x, y: c.y, w: c.w, h: c.h });
        for (const f of node.querySelectorAll("form[data-place]")) {
          f.elements.x.value = c.x + Number(f.dataset.dx);
          f.elements.y.value = c.y + Number(f.dataset.dy);
          f.elements.w.value = c.w + Number(f.dataset.dw);
          f.elements.h.value = c.h + Number(f.dataset.dh);
        }
      }
      const d = node.dataset;
      this.position(node, { x: +d.x, y: +d.y, w: +d.w, h: +d.h });
    }
  }

  say(text, error) {
    if (this.status) this.status.textContent = text;
    let box = this.el.querySelector("[data-layout-error]");
    if (!error) {
      box?.remove();
      return;
    }
    if (!box) {
      box = document.createElement("p");
      box.className = "flash error";
      box.setAttribute("role", "alert");
      box.dataset.layoutError = "";
      this.grid.before(box);
    }
    box.textContent = text;
  }
}
