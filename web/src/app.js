// Tributary's front-end entry: htmx (with the SSE extension) for the
// server-rendered live parts, and our own small modules for what needs
// client-side state (the dashboard's charts and table).
import "./htmx-setup.js";
import "htmx-ext-sse";
import { initShell } from "./shell.js";
import { initLiveList } from "./livelist.js";
import { initDashboard } from "./dashboard.js";
import { initForms } from "./forms.js";
import { initUploads } from "./uploads.js";
import { initDashboards } from "./dashboards.js";

function start() {
  initShell(document);
  initLiveList(document);
  initDashboard(document);
  initForms(document);
  initUploads(document);
  initDashboards(document);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
