// The pipelines list is server-rendered and kept live by htmx's SSE
// extension: the server sends a row's cells as an event named after the
// row (it coalesces updates to about one a second). This module shows the
// connection's state.
import { setConnection } from "./shell.js";

export function initLiveList(root) {
  const live = root.querySelector("[data-live-list]");
  if (!live) return;
  const conn = root.querySelector("[data-conn]");
  setConnection(conn, "connecting");
  live.addEventListener("htmx:sseOpen", () => setConnection(conn, "live"));
  live.addEventListener("htmx:sseError", () => setConnection(conn, "offline"));
  live.addEventListener("htmx:sseClose", () => setConnection(conn, "offline"));
}
