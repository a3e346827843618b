// The shell's small behaviours: dismissible flash messages, copy buttons,
// and submit-on-change selects (the team switcher) whose button is then
// redundant. Everything works without this script too.

export function initShell(root) {
  root.addEventListener("click", (ev) => {
    const close = ev.target.closest("[data-dismiss]");
    if (close) {
      close.closest(".flash")?.remove();
      return;
    }
    const copy = ev.target.closest("[data-copy]");
    if (copy) {
      const text = copy.getAttribute("data-copy");
      navigator.clipboard?.writeText(text).then(() => {
        const was = copy.textContent;
        copy.textContent = "Copied";
        setTimeout(() => (copy.textContent = was), 1500);
      });
    }
  });
  for (const sel of root.querySelectorAll("select[data-autosubmit]")) {
    const btn = sel.form?.querySelector("[data-autosubmit-button]");
    if (btn) btn.hidden = true;
    sel.addEventListener("change", () => sel.form.requestSubmit());
  }
  // Tabs loaded by htmx: keep aria-selected on the tab that was chosen.
  root.addEventListener("htmx:afterRequest", (ev) => {
    const tab = ev.detail?.elt;
    if (!tab || tab.getAttribute("role") !== "tab") return;
    for (const t of tab.closest("[role=tablist]").querySelectorAll("[role=tab]")) {
      t.setAttribute("aria-selected", t === tab ? "true" : "false");
    }
  });
}

// setConnection shows the state of a live connection in an indicator
// element (data-conn): text and an icon, never colour alone.
export function setConnection(el, state) {
  if (!el) return;
  const labels = { live: "Live", connecting: "Connecting…", offline: "Offline — reconnecting…" };
  el.dataset.state = state;
  el.textContent = labels[state] || state;
}
