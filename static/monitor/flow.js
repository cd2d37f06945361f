// The monitor's flow: the editor's drawing, read-only, with each step's live status, its
// attempts and duration, a progress line per parallel branch and a bar per foreach.
import {renderFlow} from "../flow/render.js";
import {duration, mark} from "../common/status.js";

const DONE = new Set(["succeeded", "failed", "skipped", "cancelled"]);

/** Draw `workflow` in `root`; returns {update(state, changed), rows(), byPath}. */
export function mountFlow(root, workflow, {onSelect, onItems}) {
  const ctx = renderFlow(root, workflow, {editable: false});
  const lanes = [...root.querySelectorAll(".lane")].map((lane) => ({
    bar: lane.querySelector(".lane-progress"),
    cards: [...lane.querySelectorAll(".card-action")],
  }));
  root.addEventListener("click", (e) => {
    const more = e.target.closest("[data-items]");
    if (more) return onItems(more.dataset.items);
    const card = e.target.closest(".card, .lane[data-path]");
    if (card) onSelect(card.dataset.path);
  });
  root.addEventListener("keydown", (e) => {
    const card = e.target.closest?.(".card");
    if (card && e.target === card && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      onSelect(card.dataset.path);
    }
  });

  function paint(node, path, state) {
    const step = state.steps.get(path);
    const counts = state.items.get(path);
    const label = node.querySelector(":scope > .card-head .card-status");
    if (step) {
      node.dataset.status = step.status;
      const attempts = step.attempts > 1 || step.status === "retrying" ? ` · attempt ${step.attempts}` : "";
      label.textContent = `${mark(step.status)} ${step.status}${attempts}${step.duration_ms != null ? ` · ${duration(step.duration_ms)}` : ""}`;
      node.setAttribute("aria-label", `${node.dataset.id} (${node.dataset.kind}): ${step.status}`);
    } else if (counts) {
      const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([s, n]) => `${mark(s)} ${n}`);
      label.textContent = parts.join("  ");
      label.title = Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ");
      const status = counts.running ? "running" : counts.failed ? "failed" : counts.succeeded ? "succeeded" : "pending";
      node.dataset.status = status;
    }
    const progress = state.progress.get(path);
    const box = node.querySelector(":scope > .foreach-progress");
    if (progress && box) {
      box.hidden = false;
      const pct = progress.total ? ((progress.done + progress.failed) / progress.total) * 100 : 100;
      if (!box.firstChild) {
        box.innerHTML = "<div class=bar role=progressbar aria-valuemin=0><span class=ok></span><span class=bad></span></div><span class=text></span> <button type=button class=link>items</button>";
        box.querySelector("button").dataset.items = path;
        box.querySelector("button").setAttribute("aria-label", `Show the items of ${path}`);
      }
      const bar = box.querySelector(".bar");
      bar.setAttribute("aria-valuemax", String(progress.total));
      bar.setAttribute("aria-valuenow", String(progress.done + progress.failed));
      bar.setAttribute("aria-label", `${path}: ${progress.done} done, ${progress.failed} failed of ${progress.total}`);
      box.querySelector(".ok").style.width = `${progress.total ? (progress.done / progress.total) * 100 : 0}%`;
      box.querySelector(".bad").style.width = `${progress.total ? (progress.failed / progress.total) * 100 : 0}%`;
      box.querySelector(".text").textContent = `${progress.done + progress.failed} / ${progress.total}` +
        `${progress.failed ? ` ✕ ${progress.failed}` : ""}${progress.running ? ` · ${progress.running} running` : ""} (${pct.toFixed(0)}%)`;
    }
  }

  // the action steps that run once (foreach bodies run per item: counted from their items)
  const actionPaths = [...root.querySelectorAll(".card-action")]
    .filter((card) => !card.parentElement.closest(".card-foreach")).map((card) => card.dataset.path);

  return {
    byPath: ctx.byPath,
    actionPaths,
    /** Repaint what changed (all when `changed` is null). */
    update(state, changed) {
      const paths = changed || new Set([...ctx.byPath.keys()]);
      for (const path of paths) {
        const node = ctx.byPath.get(path);
        if (node && node.classList.contains("card")) paint(node, path, state);
        else if (node) {
          const step = state.steps.get(path);
          if (step) node.dataset.status = step.status;
        }
      }
      for (const lane of lanes) {
        if (!lane.bar || !lane.cards.length) continue;
        const done = lane.cards.filter((c) => DONE.has(c.dataset.status)).length;
        lane.bar.style.setProperty("--done", `${(done / lane.cards.length) * 100}%`);
        lane.bar.title = `${done} of ${lane.cards.length} steps done`;
      }
    },
    /** The timeline's rows: every step in flow order, indented by depth. */
    rows() {
      return [...root.querySelectorAll(".card")].map((card) => ({
        path: card.dataset.path, label: card.dataset.id,
        depth: card.dataset.path.split(".").length - 1,
      })).filter((row) => !row.path.includes("["));
    },
  };
}
