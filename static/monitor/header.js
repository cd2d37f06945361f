// The monitor's header lines: the run's status, its figures (engine/stats.py's words, with the
// steps done of all there will be), what held it back, each block's figures, and the buttons'
// states. Figures come from the run's summary once it ended, else from the live state.
import {runFigures, describeBlock, heldBack, heldBackShort, secondsText} from "./figures.js";
import {countsText, stepCounts} from "./progress.js";
import {mark} from "../common/status.js";

const ACTIVE = new Set(["queued", "running"]);
const ENDED = new Set(["succeeded", "failed", "cancelled", "interrupted", "skipped"]);

/** The last moment a step of the run did something (an interrupted run's downtime comes after). */
function lastActivity(state) {
  let last = null;
  for (const step of state.steps.values()) {
    for (const t of [step.started, step.finished]) if (t != null && (last === null || t > last)) last = t;
  }
  for (const times of state.itemTimes.values()) {
    const t = times[times.length - 1];
    if (t != null && (last === null || t > last)) last = t;
  }
  return last;
}

/** The kinds of block under way, while the run has no summary yet (what a live speed-up comes from). */
function liveBlocks(state) {
  const kinds = new Set();
  if (state.progress.size || state.items.size) kinds.add("foreach");
  for (const step of state.steps.values()) if (step.kind === "parallel") kinds.add("parallel");
  return [...kinds].map((kind) => ({kind, saved_ms: 1}));
}

/** The figures line of `state`'s run. `plan`: the flow's steps (progress.js). */
export function figuresText(state, plan) {
  const run = state.run;
  const summary = run.summary || {};
  const now = Date.now() / 1000;
  let wall = run.duration_ms ?? summary.wall_ms;
  let work = summary.work_ms;
  let stopped = false;
  if (wall == null && run.started_at) {
    if (ENDED.has(run.status)) {  // ended with no figures of its own (interrupted): up to its last step's activity
      const last = lastActivity(state);
      wall = last !== null ? Math.max(last - run.started_at, 0) * 1000 : null;
      stopped = true;
    } else wall = (now - run.started_at) * 1000;
  }
  if (work == null) {  // live: the action steps' time so far (cancelled attempts are no work)
    work = 0;
    for (const step of state.steps.values()) {
      if ((step.kind && step.kind !== "action") || step.status === "cancelled" || step.reused) continue;
      if (step.duration_ms != null) work += step.duration_ms;
      else if (step.started && ["running", "retrying"].includes(step.status)) work += (now - step.started) * 1000;
    }
  }
  const blocks = summary.blocks || liveBlocks(state);
  const parts = runFigures({wall_ms: wall, work_ms: work || null, blocks}, ACTIVE.has(run.status));
  if (stopped && parts.length && wall != null) {
    parts[0] = `ran ${secondsText(wall / 1000)} before it ${run.status === "interrupted" ? "was interrupted" : "stopped"}`;
  }
  if (summary.action_steps != null) parts.push(`${summary.action_steps} action steps`);
  else {
    const counts = stepCounts(state, plan);
    if (counts.total) parts.push(countsText(counts));
  }
  const tokens = summary.tokens && Object.values(summary.tokens).reduce((a, b) => a + (Number(b) || 0), 0);
  if (tokens) parts.push(`${tokens} tokens`);
  const held = Array.isArray(summary.held_back) ? summary.held_back : [];
  if (held.length) parts.push(heldBackShort(held));
  return parts.join(" · ");
}

/** The "more figures" list: what held the run back (with its figures) and each block's figures. */
export function paintMoreFigures(root, summary) {
  const held = Array.isArray(summary?.held_back) ? summary.held_back : [];
  const blocks = Array.isArray(summary?.blocks) ? summary.blocks : [];
  const key = JSON.stringify([held, blocks]);
  if (root.dataset.key === key) return;
  root.dataset.key = key;
  const list = root.querySelector("ul");
  list.replaceChildren();
  for (const entry of held) {
    const {text, figures} = heldBack(entry);
    const li = document.createElement("li");
    li.dataset.testid = "held-back";
    li.append(Object.assign(document.createElement("span"), {textContent: `◷ ${text}`}), " ",
      Object.assign(document.createElement("span"), {className: "muted", textContent: `(${figures})`}));
    list.append(li);
  }
  for (const block of blocks) {
    const li = document.createElement("li");
    li.dataset.testid = "block-figures";
    li.textContent = block.text || describeBlock(block);
    list.append(li);
  }
  root.hidden = !list.children.length;
  root.querySelector("summary").textContent = held.length
    ? `What held the run back, and each block's figures (${held.length + blocks.length})`
    : `Each block's figures (${blocks.length})`;
}

/** The status word and mark, the error banner and which buttons may be used now. */
export function paintStatus(run) {
  const $ = (sel) => document.querySelector(sel);
  const status = $("[data-testid=run-status]");
  status.dataset.status = run.status;
  status.textContent = `${mark(run.status)} ${run.status}`;
  const error = $("[data-testid=run-error]");
  if (!error.dataset.action) {  // an action's own error stays until the next action
    error.textContent = run.error && run.status !== "succeeded" ? run.error : "";
    error.hidden = !error.textContent;
  }
  $("[data-action=cancel]").disabled = !ACTIVE.has(run.status) && run.status !== "waiting";  // a waiting run too
  $("[data-action=resume]").disabled = !["failed", "cancelled", "interrupted"].includes(run.status);
  $("[data-action=resume-latest]").disabled = !["failed", "cancelled", "interrupted", "succeeded"].includes(run.status);
  $("[data-action=rerun]").disabled = ACTIVE.has(run.status);
}
