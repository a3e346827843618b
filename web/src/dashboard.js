// The live pipeline dashboard: one uPlot chart per numeric field, the
// latest values, the ingest rate and a recent-records table, fed by the
// pipeline's live stream (/api/v1/pipelines/{id}/stream).
//
// Work is coalesced: a batch only queues its records; rendering happens at
// most every RENDER_EVERY ms, in an animation frame, and not at all while
// the tab is hidden (the queue is capped, so a background tab holds a
// bounded amount). A lost connection reconnects by itself; the stream's
// "recent" event on reconnect fills the gap, and records already shown are
// recognised by id.
import uPlot from "uplot";
import { setConnection, initCustomRange } from "./shell.js";

const RENDER_EVERY = 250; // ms: at most four renders a second
const MAX_ROWS = 100; // rows kept in the table
const MAX_POINTS = 20000; // points kept per chart
const RATE_WINDOW = 10000; // ms over which the ingest rate is averaged

export function initDashboard(root) {
  const el = root.querySelector("[data-dashboard]");
  if (el) new Dashboard(el);
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function formatValue(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") {
    return Number.isInteger(v) ? v.toLocaleString() : v.toLocaleString(undefined, { maximumFractionDigits: 4 });
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
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3,
  });
}

class Dashboard {
  constructor(el) {
    this.el = el;
    this.live = el.dataset.range === "live";
    this.windowMs = Number(el.dataset.window || 900) * 1000;
    this.columns = JSON.parse(el.dataset.columns || "[]");
    this.tbody = el.querySelector("[data-records] tbody");
    this.conn = el.querySelector("[data-conn]");
    this.rateEl = el.querySelector("[data-rate]");
    this.countEl = el.querySelector("[data-count]");
    this.count = Number(this.countEl?.dataset.value || 0);
    this.pending = [];
    this.arrivals = [];
    this.seen = new Set();
    this.lastTs = 0;
    this.retry = 0;
    this.scheduled = false;
    this.lastRender = 0;
    for (const tr of this.tbody?.querySelectorAll("tr[data-id]") || []) {
      const id = Number(tr.dataset.id);
      if (id > 0) this.seen.add(id);
      this.lastTs = Math.max(this.lastTs, Date.parse(tr.dataset.ts) || 0);
    }
    this.charts = new Map();
    let series = {};
    try {
      series = JSON.parse(document.getElementById("series-data")?.textContent || "{}");
    } catch {
      series = {};
    }
    for (const fig of el.querySelectorAll("[data-chart]")) {
      this.addChart(fig, series[fig.dataset.chart] || { t: [], v: [] });
    }
    performance.mark("tributary:dashboard-drawn");
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.schedule();
    });
    if (typeof ResizeObserver !== "undefined") {
      const ro = new ResizeObserver(() => this.resize());
      for (const c of this.charts.values()) ro.observe(c.box);
    }
    // The rate falls back to zero when nothing arrives.
    setInterval(() => {
      if (!document.hidden) this.showRate();
    }, 1000);
    // The custom range's inputs are local times; the server takes RFC 3339.
    initCustomRange(el.querySelector("form[data-custom-range]"), (f, t) => this.goToRange(f, t));
    this.connect();
  }

  addChart(fig, s) {
    const box = fig.querySelector(".chart-plot");
    const field = fig.dataset.chart;
    const stroke = cssVar("--accent", "#2563eb");
    const axis = { stroke: cssVar("--muted", "#6b7280"), grid: { stroke: cssVar("--grid", "#e5e7eb"), width: 1 },
      ticks: { stroke: cssVar("--grid", "#e5e7eb"), width: 1 }, font: "12px system-ui, sans-serif" };
    const chart = {
      fig, box, field, xs: s.t.slice(), ys: s.v.slice(), px: [], py: [], zoomed: false,
      latest: fig.querySelector("[data-latest]"), reset: fig.querySelector("[data-reset-zoom]"),
    };
    const opts = {
      width: Math.max(box.clientWidth, 200), height: 180,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { size: 6 } },
      scales: { x: { time: true } },
      series: [{}, { label: field, stroke, width: 1.5, fill: cssVar("--accent-fill", "rgba(37,99,235,.08)"), points: { show: false } }],
      axes: [axis, { ...axis, size: 56 }],
      hooks: {
        // Dragging across a chart picks that span as the custom range.
        setSelect: [(u) => {
          if (u.select.width < 3) return;
          const from = u.posToVal(u.select.left, "x");
          const to = u.posToVal(u.select.left + u.select.width, "x");
          if (!(to > from)) return;
          this.goToRange(from * 1000, to * 1000);
        }],
      },
    };
    chart.plot = new uPlot(opts, [chart.xs, chart.ys], box);
    chart.plot.root.setAttribute("aria-hidden", "true");
    fig.dataset.points = String(chart.xs.length);
    chart.reset?.addEventListener("click", () => {
      chart.zoomed = false;
      chart.reset.hidden = true;
      chart.plot.setData([chart.xs, chart.ys], true);
    });
    this.charts.set(field, chart);
  }

  // goToRange shows the span from..to (ms) as a custom range.
  goToRange(from, to) {
    const q = new URLSearchParams(location.search);
    q.set("range", "custom");
    q.set("from", new Date(Math.floor(from)).toISOString());
    q.set("to", new Date(Math.ceil(to)).toISOString());
    location.assign(location.pathname + "?" + q.toString());
  }

  resize() {
    for (const c of this.charts.values()) {
      const w = Math.max(c.box.clientWidth, 200);
      if (w !== c.plot.width) c.plot.setSize({ width: w, height: 180 });
    }
  }

  connect() {
    setConnection(this.conn, this.retry ? "offline" : "connecting");
    const es = new EventSource(this.el.dataset.stream);
    this.es = es;
    es.onopen = () => {
      this.retry = 0;
      setConnection(this.conn, "live");
    };
    es.onerror = () => {
      setConnection(this.conn, "offline");
      if (es.readyState === EventSource.CLOSED) {
        // The server refused or went away for good: try again ourselves.
        const wait = Math.min(30000, 1000 * 2 ** this.retry++);
        setTimeout(() => this.connect(), wait);
      }
    };
    es.addEventListener("recent", (ev) => this.onBatch(ev.data, true));
    es.addEventListener("records", (ev) => this.onBatch(ev.data, false));
    es.addEventListener("control", (ev) => this.onControl(JSON.parse(ev.data)));
    // The node is stopping: connect again (the load balancer picks a
    // node that is up), a little later and spread out, so that the
    // streams of a stopping node do not all arrive at once.
    es.addEventListener("reconnect", (ev) => {
      let wait = 1000;
      try {
        wait = JSON.parse(ev.data).retry_ms || wait;
      } catch {
        // keep the default
      }
      es.close();
      setConnection(this.conn, "connecting");
      setTimeout(() => this.connect(), wait * (0.5 + Math.random()));
    });
  }

  isNew(r, recent) {
    if (r.id > 0) {
      if (this.seen.has(r.id)) return false;
      this.seen.add(r.id);
      if (this.seen.size > 4 * MAX_ROWS + 1000) {
        // Forget the oldest half; they have long left the table.
        const keep = [...this.seen].slice(-2 * MAX_ROWS);
        this.seen = new Set(keep);
      }
      return true;
    }
    const t = Date.parse(r.ts);
    if (recent && t <= this.lastTs) return false;
    return true;
  }

  onBatch(raw, recent) {
    const b = JSON.parse(raw);
    const now = performance.now();
    const fresh = (b.records || []).filter((r) => this.isNew(r, recent));
    if (!fresh.length) return;
    if (!recent) {
      this.arrivals.push([now, b.count]);
      this.count += b.count;
    }
    for (const r of fresh) {
      const t = Date.parse(r.ts);
      if (t > this.lastTs) this.lastTs = t;
      this.pending.push(r);
      if (!this.live) continue;
      for (const c of this.charts.values()) {
        const v = r.data?.[c.field];
        if (typeof v === "number" && Number.isFinite(v)) {
          c.px.push(t / 1000);
          c.py.push(v);
        }
      }
    }
    // A hidden tab keeps only what it will show.
    if (this.pending.length > 2 * MAX_ROWS) this.pending.splice(0, this.pending.length - MAX_ROWS);
    for (const c of this.charts.values()) {
      if (c.px.length > MAX_POINTS) {
        c.px.splice(0, c.px.length - MAX_POINTS);
        c.py.splice(0, c.py.length - MAX_POINTS);
      }
    }
    this.schedule();
  }

  onControl(c) {
    const badge = this.el.querySelector("[data-status]");
    if (c.event === "paused" || c.event === "resumed") {
      const s = c.event === "paused" ? "paused" : "active";
      if (badge) {
        badge.dataset.status = s;
        badge.textContent = s;
      }
    } else if (c.event === "deleted") {
      this.es.close();
      setConnection(this.conn, "offline");
      if (this.conn) this.conn.textContent = "Pipeline deleted";
    } else if (c.event === "updated") {
      const note = this.el.querySelector("[data-updated-note]");
      if (note) note.hidden = false;
    }
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
    this.renderRows();
    this.renderCharts();
    this.showRate();
    if (this.countEl) this.countEl.textContent = this.count.toLocaleString();
  }

  renderRows() {
    if (!this.tbody || !this.pending.length) return;
    const rows = this.pending.splice(0).slice(-MAX_ROWS);
    const frag = document.createDocumentFragment();
    for (let i = rows.length - 1; i >= 0; i--) {
      const r = rows[i];
      const tr = document.createElement("tr");
      tr.dataset.id = String(r.id);
      tr.dataset.ts = r.ts;
      const th = document.createElement("td");
      const time = document.createElement("time");
      time.dateTime = r.ts;
      time.textContent = formatTime(r.ts);
      th.appendChild(time);
      tr.appendChild(th);
      for (const col of this.columns) {
        const td = document.createElement("td");
        const v = r.data?.[col];
        td.textContent = formatValue(v);
        if (typeof v === "number") td.className = "num";
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    this.tbody.querySelector("[data-empty]")?.remove();
    this.tbody.prepend(frag);
    while (this.tbody.rows.length > MAX_ROWS) this.tbody.deleteRow(-1);
    const latest = rows[rows.length - 1];
    const last = this.el.querySelector("[data-last-record]");
    if (last) {
      last.textContent = "";
      const time = document.createElement("time");
      time.dateTime = latest.ts;
      time.textContent = new Date(latest.ts).toLocaleTimeString();
      time.title = latest.ts;
      last.appendChild(time);
    }
    for (const c of this.charts.values()) {
      const v = latest.data?.[c.field];
      if (c.latest && typeof v === "number") c.latest.textContent = formatValue(v);
    }
  }

  renderCharts() {
    for (const c of this.charts.values()) {
      if (!c.px.length) continue;
      c.xs.push(...c.px.splice(0));
      c.ys.push(...c.py.splice(0));
      // Records may arrive out of event-time order; uPlot needs sorted x.
      let sorted = true;
      for (let i = 1; i < c.xs.length; i++) if (c.xs[i] < c.xs[i - 1]) { sorted = false; break; }
      if (!sorted) {
        const idx = c.xs.map((_, i) => i).sort((a, b) => c.xs[a] - c.xs[b]);
        c.xs = idx.map((i) => c.xs[i]);
        c.ys = idx.map((i) => c.ys[i]);
      }
      const from = (Date.now() - this.windowMs) / 1000;
      let drop = 0;
      while (drop < c.xs.length && c.xs[drop] < from) drop++;
      drop = Math.max(drop, c.xs.length - MAX_POINTS);
      if (drop > 0) {
        c.xs.splice(0, drop);
        c.ys.splice(0, drop);
      }
      c.plot.setData([c.xs, c.ys], !c.zoomed);
      c.fig.dataset.points = String(c.xs.length);
      c.fig.querySelector("[data-empty-chart]")?.remove();
    }
  }

  showRate() {
    if (!this.rateEl) return;
    const now = performance.now();
    while (this.arrivals.length && this.arrivals[0][0] < now - RATE_WINDOW) this.arrivals.shift();
    let n = 0;
    for (const [, c] of this.arrivals) n += c;
    const rate = n / (RATE_WINDOW / 1000);
    this.rateEl.textContent = rate >= 10 ? Math.round(rate).toLocaleString() : rate.toFixed(1);
  }
}

