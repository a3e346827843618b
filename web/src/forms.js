// Small behaviours of forms: confirmation of destructive posts
// (data-confirm), and the editor's form mode — rows of the field table
// added and removed, and the source settings of the chosen kind shown.
// Every form still works without this script (a blank row is always
// there; the server ignores the other kinds' settings).

export function initForms(root) {
  root.addEventListener("submit", (ev) => {
    const form = ev.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) ev.preventDefault();
  }, true);

  root.addEventListener("click", (ev) => {
    const add = ev.target.closest("[data-add-field]");
    if (add) {
      const body = add.closest("form")?.querySelector("[data-fields]");
      const rows = body?.querySelectorAll("tr[data-field-row]");
      if (!rows?.length) return;
      const row = rows[rows.length - 1].cloneNode(true);
      const n = body.querySelectorAll("tr[data-field-row]").length;
      row.classList.remove("has-error");
      row.dataset.fieldRow = "";
      for (const p of row.querySelectorAll(".field-problem")) p.remove();
      for (const el of row.querySelectorAll("input, select, label")) {
        for (const attr of ["id", "for", "aria-describedby"]) {
          const v = el.getAttribute(attr);
          if (v) el.setAttribute(attr, v.replace(/-\d+$/, "-" + n));
        }
        if (el.tagName === "INPUT") el.value = "";
        if (el.tagName === "SELECT") el.selectedIndex = 0;
      }
      body.appendChild(row);
      row.querySelector("input")?.focus();
      return;
    }
    const remove = ev.target.closest("[data-remove-field]");
    if (remove) {
      const row = remove.closest("tr");
      const body = row?.parentElement;
      if (!row || !body) return;
      if (body.querySelectorAll("tr[data-field-row]").length > 1) {
        row.remove();
      } else {
        for (const el of row.querySelectorAll("input")) el.value = "";
      }
      // The preview follows the table.
      body.closest("[data-spec-form]")?.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });

  root.addEventListener("change", (ev) => {
    const kind = ev.target.closest?.("[data-kind-select]");
    if (kind) showKind(kind.closest("form"), kind.value);
  });
}

function showKind(form, kind) {
  for (const part of form?.querySelectorAll("[data-kind-part]") || []) {
    part.hidden = part.dataset.kindPart !== kind;
  }
}
