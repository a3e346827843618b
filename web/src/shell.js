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

// initCustomRange makes a custom range form's datetime-local inputs
// local times: the server fills them in UTC (and reads them as UTC when
// scripts are off); they are shown in local time and submitted as RFC
// 3339 through go(fromMs, toMs).
export function initCustomRange(form, go) {
  if (!form) return;
  const { from, to } = form.elements;
  for (const input of [from, to]) {
    const t = Date.parse(input.value + "Z");
    if (!Number.isNaN(t)) input.value = localValue(new Date(t));
  }
  form.addEventListener("submit", (ev) => {
    const f = Date.parse(from.value);
    const t = Date.parse(to.value);
    if (Number.isNaN(f) || Number.isNaN(t)) return; // the server explains
    ev.preventDefault();
    go(f, t);
  });
}

// localValue formats a time for a datetime-local input, in local time.
function localValue(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
