// The monitor's flow: the editor's drawing (static/flow/render.js), read-only, decorated through
// the map of cards by step path it returns: each step's live status, attempts and duration, a
// progress line per parallel branch (green for done, red for failed), a bar per foreach, the
// critical path, and the steps of sub-workflows opened in place (subflow.js).
import {renderFlow} from "../flow/render.js";
import {duration, mark} from "../common/status.js";

const DONE = new Set(["succeeded", "failed", "skipped", "cancelled", "compensated"]);
const BAD = new Set(["failed", "cancelled"]);
const LOOPS = ".card-foreach, .card-repeat";
const SOMETIMES = ".switch-lanes, .hook-lanes, .compensate";  // cases not chosen, hooks and undo steps may never run

/** Re-key the cards drawn in `root` under `prefix` (a sub-workflow's steps sit under its step's path). */
export function prefixPaths(root, byPath, prefix) {
  if (!prefix) return byPath;
  const moved = new Map();
  for (const node of root.querySelectorAll("[data-path]")) node.dataset.path = `${prefix}.${node.dataset.path}`;
  for (const [path, node] of byPath) moved.set(`${prefix}.${path}`, node);
  return moved;
}

/** The status words of a card: "✓ succeeded · attempt 2 · 1.2 s", "✓ reused from #41". */
export function statusText(step, resumedFrom) {
  if (step.reused) return `${mark(step.status)} reused${resumedFrom ? ` from #${resumedFrom}` : ""}`;
  const attempts = step.attempts > 1 || step.status === "retrying" ? ` · attempt ${step.attempts}` : "";
  return `${mark(step.status)} ${step.status}${attempts}${step.duration_ms != null ? ` · ${duration(step.duration_ms)}` : ""}`;
}

/**
 * Draw `workflow` in `root` (its paths under `prefix`, for a sub-workflow's own view).
 * @returns {{byPath: Map<string, Element>, update(state, changed), rows(), plan(), critical(paths), adopt(node, paths)}}
 */
export function mountFlow(root, workflow, {onSelect, onItems, prefix = "", resumedFrom = null}) {
  const ctx = renderFlow(root, workflow, {editable: false});
  const byPath = prefixPaths(root, ctx.byPath, prefix);
  let lanes = [];
  const findLanes = () => {
    lanes = [...root.querySelectorAll(".lane")].map((lane) => ({
      bar: lane.querySelector(".lane-progress"),
      cards: [...lane.querySelectorAll(".card-action")],
    }));
  };
  findLanes();
  let planned = null;  // plan()'s answer
  root.addEventListener("click", (e) => {
    if (e.target.closest("[data-subflow-toggle], a")) return;  // subflow.js handles its own buttons
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
      node.classList.toggle("reused", Boolean(step.reused));
      if (label) label.textContent = statusText(step, resumedFrom);
      node.setAttribute("aria-label", `${node.dataset.id} (${node.dataset.kind}): ${step.reused ? "reused" : step.status}`);
    } else if (counts && label) {
      const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([s, n]) => `${mark(s)} ${n}`);
      label.textContent = parts.join("  ");
      label.title = Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ");
      node.dataset.status = counts.running ? "running" : counts.failed ? "failed" : counts.succeeded ? "succeeded" : "pending";
    }
    const progress = state.progress.get(path);
    const box = node.querySelector(":scope > .foreach-progress");
    if (progress && box) foreachBar(box, path, progress);
  }

  function paintLanes() {
    for (const lane of lanes) {
      if (!lane.bar || !lane.cards.length) continue;
      const statuses = lane.cards.map((c) => c.dataset.status);
      const done = statuses.filter((s) => DONE.has(s)).length;
      const bad = statuses.filter((s) => BAD.has(s)).length;
      const key = `${done}/${bad}`;
      if (lane.shown === key) continue;  // written only when it changed: 200 lanes repaint every frame
      lane.shown = key;
      const share = (n) => `${(n / lane.cards.length) * 100}%`;
      lane.bar.style.setProperty("--ok", share(done - bad));
      lane.bar.style.setProperty("--done", share(done));
      lane.bar.dataset.failed = String(bad > 0);
      lane.bar.title = `${done} of ${lane.cards.length} steps done${bad ? `, ${bad} failed` : ""}`;
    }
  }

  const api = {
    byPath,
    /** renderFlow's map of cards to their YAML steps (sub-workflows add theirs). */
    steps: ctx.cards,
    /** Repaint what changed (all when `changed` is null). */
    update(state, changed) {
      const paths = changed || new Set([...byPath.keys()]);
      for (const path of paths) {
        const node = byPath.get(path);
        if (node && node.classList.contains("card")) paint(node, path, state);
        else if (node) {
          const step = state.steps.get(path);
          if (step) node.dataset.status = step.status;
        }
      }
      paintLanes();
    },
    /** The timeline's rows: every step in flow order, indented by depth. */
    rows(within = root) {
      return [...within.querySelectorAll(".card")].map((card) => ({
        path: card.dataset.path, label: card.dataset.id,
        depth: card.dataset.path.split(".").length - 1,
      })).filter((row) => !row.path.includes("["));
    },
    /** The action steps that run once, those that may run, and those in a loop's body (progress.js); kept until cards change. */
    plan() {
      if (planned) return planned;
      const once = [];
      const bodies = [];
      const maybe = [];
      for (const card of root.querySelectorAll(".card-action")) {
        if (card.closest(".subflow")) continue;  // a sub-workflow's steps count in its step
        const loop = card.parentElement.closest(LOOPS);
        if (loop) bodies.push({path: card.dataset.path, loop: loop.dataset.path});
        else if (card.closest(SOMETIMES)) maybe.push(card.dataset.path);
        else once.push(card.dataset.path);
      }
      planned = {once, bodies, maybe};
      return planned;
    },
    /** Mark the steps on the critical path (class `critical`). */
    critical(paths) {
      for (const node of root.querySelectorAll(".card.critical")) node.classList.remove("critical");
      for (const path of paths) {
        const node = byPath.get(path);
        if (!node) continue;
        node.classList.add("critical");
        node.setAttribute("aria-description", "on the critical path");
      }
    },
    /** Cards drawn later inside the flow (a sub-workflow opened in place): known by path from now on. */
    adopt(paths) {
      for (const [path, node] of paths) byPath.set(path, node);
      findLanes();
      planned = null;
    },
  };
  return api;
}

function foreachBar(box, path, progress) {
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
