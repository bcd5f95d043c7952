// The user list's selection: a page checkbox ticks every row; the count follows the ticks.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (box.id === "pick-page") {
    document.querySelectorAll("input[name=ids]").forEach((b) => { b.checked = box.checked; });
  }
  if (box.id === "pick-page" || box.name === "ids") {
    const n = document.querySelectorAll("input[name=ids]:checked").length;
    const count = document.getElementById("selected-count");
    if (count) count.textContent = n === 1 ? "1 selected" : `${n} selected`;
    const go = document.getElementById("update-selected");
    if (go) go.disabled = n === 0;
  }
});
