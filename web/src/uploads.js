// The uploads tab's drop zone: a file dropped (or picked) is sent with
// XMLHttpRequest to the upload API, whose progress events move a progress
// bar; once the server has it, the tab reloads to show its processing
// progress (the tab then refreshes itself while the upload is processed).
// The elements are looked up on every event: the tab may be re-rendered
// while a file is on its way.

export function initUploads(root) {
  root.addEventListener("dragover", (ev) => {
    const zone = ev.target.closest?.("[data-dropzone]");
    if (!zone) return;
    ev.preventDefault();
    zone.dataset.over = "";
  });
  root.addEventListener("dragleave", (ev) => {
    ev.target.closest?.("[data-dropzone]")?.removeAttribute("data-over");
  });
  root.addEventListener("drop", (ev) => {
    const zone = ev.target.closest?.("[data-dropzone]");
    if (!zone) return;
    ev.preventDefault();
    zone.removeAttribute("data-over");
    const file = ev.dataTransfer?.files?.[0];
    if (file) send(zone, file);
  });
  root.addEventListener("change", (ev) => {
    const input = ev.target.closest?.("[data-upload-input]");
    if (input?.files?.[0]) send(input.closest("[data-dropzone]"), input.files[0]);
  });
}

function status(text, state) {
  const el = document.querySelector("[data-upload-status]");
  if (!el) return;
  el.textContent = text;
  el.dataset.state = state;
}

function progress(loaded, total) {
  const bar = document.querySelector("[data-upload-progress]");
  if (!bar) return;
  bar.hidden = false;
  bar.max = total || 1;
  bar.value = loaded;
}

function send(zone, file) {
  const url = zone.dataset.url;
  const tab = zone.dataset.tab;
  const body = new FormData();
  body.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", url);
  xhr.responseType = "json";
  xhr.upload.addEventListener("progress", (ev) => {
    progress(ev.loaded, ev.lengthComputable ? ev.total : file.size);
    const pct = ev.lengthComputable ? Math.round((100 * ev.loaded) / ev.total) : 0;
    status(`Uploading ${file.name}: ${pct}%`, "uploading");
  });
  xhr.addEventListener("load", () => {
    if (xhr.status >= 200 && xhr.status < 300) {
      progress(1, 1);
      status(`${file.name} is uploaded; processing shows below.`, "done");
      if (tab && window.htmx) window.htmx.ajax("GET", tab, { target: "#tab-panel" });
      return;
    }
    const detail = xhr.response?.detail || xhr.response?.title || xhr.statusText;
    status(`Upload of ${file.name} refused: ${detail}`, "error");
  });
  xhr.addEventListener("error", () => status(`Upload of ${file.name} failed: the connection broke.`, "error"));
  status(`Uploading ${file.name}…`, "uploading");
  progress(0, file.size);
  xhr.send(body);
}
