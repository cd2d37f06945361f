// The way back from a step to the workflow's own properties: the "← Workflow" button, a click
// on empty canvas (not the end of a pan or a drag), and Escape outside the text fields.

const NOT_EMPTY = ".card, .lane-head, button, input, select, textarea, a, summary, label, [data-keep-selection]";

/** `deselect()` on each of those; `selected()` says whether a step is selected now. */
export function mountDeselect({button, canvas, selected, deselect}) {
  button.addEventListener("click", deselect);
  let pressedAt = null;
  canvas.addEventListener("pointerdown", (e) => { pressedAt = [e.clientX, e.clientY]; });
  canvas.addEventListener("click", (e) => {
    const still = pressedAt && Math.hypot(e.clientX - pressedAt[0], e.clientY - pressedAt[1]) < 5;
    if (still && selected() && !e.target.closest(NOT_EMPTY)) deselect();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !selected() || document.querySelector("dialog[open]")) return;
    if (e.target.closest?.(".cm-editor, input, textarea, select") && !e.target.closest(".canvas")) return;
    deselect();
  });
}
