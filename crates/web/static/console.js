// The console's few behaviours that need a script; every page works without it.

// The user list's selection: kept in this tab while the manager pages, searches and filters,
// so people ticked on one page stay ticked on the next. A page checkbox ticks every row on it.
// Applying or deactivating the selection ends it.
const selection = {
  key: "rollcall-selection",
  read() { return new Set(JSON.parse(sessionStorage.getItem(this.key) || "[]")); },
  write(ids) { sessionStorage.setItem(this.key, JSON.stringify([...ids])); },
  clear() { sessionStorage.removeItem(this.key); },
};

function showSelection() {
  const ids = selection.read();
  const boxes = document.querySelectorAll("input[name=ids]");
  if (!boxes.length && !document.getElementById("bulk")) return;
  boxes.forEach((b) => { b.checked = ids.has(b.value); });
  const page = document.getElementById("pick-page");
  if (page) page.checked = boxes.length > 0 && [...boxes].every((b) => b.checked);
  const elsewhere = [...ids].filter((id) => ![...boxes].some((b) => b.value === id)).length;
  const count = document.getElementById("selected-count");
  if (count) {
    count.textContent = `${ids.size} selected` + (elsewhere ? ` (${elsewhere} not shown here)` : "");
  }
  const clear = document.getElementById("clear-selection");
  if (clear) clear.hidden = ids.size === 0;
  const go = document.getElementById("update-selected");
  if (go) go.disabled = ids.size === 0;
}

document.addEventListener("change", (event) => {
  const box = event.target;
  if (box.id !== "pick-page" && box.name !== "ids") return;
  const ids = selection.read();
  const changed = box.id === "pick-page" ? document.querySelectorAll("input[name=ids]") : [box];
  changed.forEach((b) => { if (box.checked) ids.add(b.value); else ids.delete(b.value); });
  selection.write(ids);
  showSelection();
});

document.addEventListener("click", (event) => {
  if (event.target.id !== "clear-selection") return;
  selection.clear();
  showSelection();
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.id === "bulk") {
    // The people ticked on other pages go with the form too.
    const onPage = new Set([...document.querySelectorAll("input[name=ids]")].map((b) => b.value));
    for (const id of selection.read()) {
      if (onPage.has(id)) continue;
      const hidden = document.createElement("input");
      hidden.type = "hidden"; hidden.name = "ids"; hidden.value = id;
      form.append(hidden);
    }
  }
  if (form.id === "bulk-changes" || form.id === "bulk-deactivate") selection.clear();
});

document.addEventListener("DOMContentLoaded", showSelection);
document.addEventListener("htmx:afterSettle", showSelection);

// A refused form: its summary takes focus so what to fix is read first, with links to each field.
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
});

// Before the idle timeout ends the session, a warning offers to stay signed in. If it ends all
// the same, what was typed on the page is kept in this tab and put back when the page is opened
// again after signing in.
(function () {
  const session = document.getElementById("session");
  const draftKey = "rollcall-draft:" + location.pathname;
  if (!session) return;
  const idleMs = Number(session.dataset.idleSeconds) * 1000;
  // The server notes activity at most every 30 s, so its clock may be that much ahead of ours.
  const endsAfter = Math.max(idleMs - 30000, 10000);
  const warnAfter = Math.max(endsAfter - 120000, endsAfter / 2);
  const dialog = document.getElementById("idle-warning");
  let warnTimer, endTimer, tickTimer, endsAt;

  function restart() {
    clearTimeout(warnTimer); clearTimeout(endTimer); clearInterval(tickTimer);
    endsAt = Date.now() + endsAfter;
    warnTimer = setTimeout(warn, warnAfter);
    endTimer = setTimeout(ended, endsAfter);
  }
  function warn() {
    const left = dialog.querySelector("[data-left]");
    const show = () => {
      const s = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
      left.textContent = s >= 60 ? `${Math.ceil(s / 60)} minute${s > 60 ? "s" : ""}` : `${s} seconds`;
    };
    show();
    tickTimer = setInterval(show, 15000);
    dialog.showModal();
  }
  function ended() {
    clearInterval(tickTimer);
    saveDraft();
    dialog.querySelector("[data-while]").hidden = true;
    dialog.querySelector("[data-ended]").hidden = false;
    if (!dialog.open) dialog.showModal();
  }
  function saveDraft() {
    const fields = [];
    document.querySelectorAll("main form[method=post] :is(input, textarea, select)").forEach((f) => {
      if (!f.name || f.name === "csrf" || ["hidden", "password", "file", "submit"].includes(f.type)) return;
      if ((f.type === "checkbox" || f.type === "radio") && !f.checked) return;
      if (f.tagName === "SELECT" && f.multiple) {
        for (const o of f.selectedOptions) fields.push([f.name, o.value]);
      } else {
        fields.push([f.name, f.value]);
      }
    });
    if (fields.length) sessionStorage.setItem(draftKey, JSON.stringify({ title: document.title, fields }));
  }
  dialog.querySelector("[data-stay]").addEventListener("click", async () => {
    const body = new URLSearchParams({ csrf: session.dataset.csrf });
    const res = await fetch("/session/keepalive", { method: "POST", body });
    if (res.ok) { dialog.close(); clearInterval(tickTimer); restart(); } else { ended(); }
  });
  document.body.addEventListener("htmx:afterRequest", restart);
  restart();
})();

// Put back what was typed before a session ended, once the page is open again.
(function () {
  const key = "rollcall-draft:" + location.pathname;
  const saved = sessionStorage.getItem(key);
  if (!saved || document.getElementById("error-summary")) return;
  sessionStorage.removeItem(key);
  const { fields } = JSON.parse(saved);
  const names = new Set(fields.map(([n]) => n));
  for (const name of names) {
    const values = fields.filter(([n]) => n === name).map(([, v]) => v);
    document.querySelectorAll(`main form [name="${CSS.escape(name)}"]`).forEach((f) => {
      if (f.type === "checkbox" || f.type === "radio") f.checked = values.includes(f.value);
      else if (f.type !== "hidden") f.value = values[0];
    });
  }
  const note = document.createElement("p");
  note.className = "notice info";
  note.setAttribute("role", "status");
  note.textContent = "What you typed before your session ended has been put back. Check it, then save.";
  document.querySelector("main").prepend(note);
})();
