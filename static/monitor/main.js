// The monitor page: the run's flow with live statuses, the timeline, figures, step detail,
// cancel / re-run / resume and the connection indicator. Repaints at most once a frame.
import {api} from "../common/api.js";
import {duration, mark} from "../common/status.js";
import {parse} from "../vendor/yaml.js";
import {connectRun} from "./socket.js";
import {RunState} from "./state.js";
import {mountFlow} from "./flow.js";
import {mountTimeline} from "./timeline.js";
import {mountDetail} from "./detail.js";
import {runFigures} from "./figures.js";

const data = JSON.parse(document.getElementById("monitor-data").textContent);
const $ = (sel) => document.querySelector(sel);
const state = new RunState();
const ACTIVE = new Set(["queued", "running"]);

let workflow;
try {
  workflow = parse(data.yaml) || {steps: []};
} catch {
  workflow = {steps: []};
}

function selectPath(path) {
  if (path) history.replaceState(null, "", `#step=${encodeURIComponent(path)}`);
  detail.show(path);
  for (const node of document.querySelectorAll(".selected")) node.classList.remove("selected");
  if (path) {
    flow.byPath.get(path)?.classList.add("selected");
    document.querySelector(`.tl-row[data-path="${CSS.escape(path)}"]`)?.classList.add("selected");
  }
}

// connect first: the server builds the snapshot while this page draws the flow
const connection = $("[data-testid=connection]");
const socket = connectRun(data.id, {
  lastSeq: () => state.seq,
  onSnapshot(msg) {
    state.snapshot(msg);
    flow.update(state, null);
    timeline.update(state, null, Date.now() / 1000);
    detail.refresh(new Set(), !ACTIVE.has(state.run.status));
    paintRun();
    paintOrigin(state.run);
    if (!document.body.dataset.ready) performance.mark("wf:first-render");
    document.body.dataset.ready = "true";
  },
  onEvents(events) {
    const t = performance.now();
    for (const e of events) state.apply(e);
    schedule();
    performance.measure("wf:events", {start: t});
  },
  onState(value) {
    connection.dataset.state = value;
    connection.textContent = {connecting: "○ connecting…", live: "● live", reconnecting: "◌ reconnecting…",
      refused: "✕ not allowed"}[value];
  },
});

const flow = mountFlow($("[data-testid=flow]"), workflow, {onSelect: selectPath, onItems: selectPath});
const timeline = mountTimeline($("[data-testid=timeline]"), flow.rows(), {onSelect: selectPath});
const detail = mountDetail($("[data-testid=detail]"), data.id, state, {onSelect: selectPath});

function figures() {
  const run = state.run;
  const summary = run.summary || {};
  let wall = run.duration_ms ?? summary.wall_ms;
  let work = summary.work_ms;
  const now = Date.now() / 1000;
  if (wall == null && run.started_at) wall = (now - run.started_at) * 1000;
  let actions = 0;
  let done = 0;
  if (work == null) {  // live: the action steps' time so far (cancelled attempts are no work)
    work = 0;
    for (const step of state.steps.values()) {
      if ((step.kind && step.kind !== "action") || step.status === "cancelled") continue;
      if (step.duration_ms != null) work += step.duration_ms;
      else if (step.started && ["running", "retrying"].includes(step.status)) work += (now - step.started) * 1000;
    }
  }
  const final = ["succeeded", "failed", "skipped", "cancelled"];
  for (const path of flow.actionPaths) {
    actions += 1;
    if (final.includes(state.steps.get(path)?.status)) done += 1;
  }
  for (const counts of state.items.values()) {  // foreach items' steps
    for (const [status, n] of Object.entries(counts)) {
      actions += n;
      if (final.includes(status)) done += n;
    }
  }
  const parts = runFigures({wall_ms: wall, work_ms: work || null, blocks: summary.blocks || []}, ACTIVE.has(run.status));
  if (summary.action_steps != null) parts.push(`${summary.action_steps} action steps`);
  else if (actions) parts.push(`${done} of ${actions} steps done`);
  const tokens = summary.tokens && Object.values(summary.tokens).reduce((a, b) => a + (Number(b) || 0), 0);
  if (tokens) parts.push(`${tokens} tokens`);
  return parts.join(" · ");
}

/** Where the run came from, after "v2 · run #4" in the header (a resume says so there already). */
function paintOrigin(run) {
  const title = $(".wf-title");
  if (!run.origin_text || run.origin === "resume" || title.querySelector("[data-testid=run-origin]")) return;
  const origin = Object.assign(document.createElement("span"), {className: "muted", textContent: ` · ${run.origin_text}`});
  origin.dataset.testid = "run-origin";
  origin.style.fontWeight = "normal";
  title.append(origin);
}

let shownStatus = null;
function paintRun() {
  const run = state.run;
  if (shownStatus !== null && shownStatus !== run.status && !ACTIVE.has(run.status)) loadHistory();
  shownStatus = run.status;
  const status = $("[data-testid=run-status]");
  status.dataset.status = run.status;
  status.textContent = `${mark(run.status)} ${run.status}`;
  $("[data-testid=figures]").textContent = figures();
  const error = $("[data-testid=run-error]");
  error.textContent = run.error && run.status !== "succeeded" ? run.error : "";
  error.hidden = !error.textContent;
  $("[data-action=cancel]").disabled = !ACTIVE.has(run.status) && run.status !== "waiting";  // a waiting run too
  $("[data-action=resume]").disabled = !["failed", "cancelled", "interrupted"].includes(run.status);
  $("[data-action=rerun]").disabled = ACTIVE.has(run.status);
}

let frame = 0;
function schedule() {
  if (!frame) frame = requestAnimationFrame(paint);
}
function paint() {
  const t = performance.now();
  frame = 0;
  const changed = state.takeDirty();
  flow.update(state, changed);
  timeline.update(state, changed, Date.now() / 1000);
  detail.refresh(changed, state.runDirty && !ACTIVE.has(state.run.status));
  paintRun();
  state.runDirty = false;
  performance.measure("wf:paint", {start: t});  // the benchmark reads these
}
// running runs tick (elapsed time, growing bars) twice a second without events too
setInterval(() => { if (ACTIVE.has(state.run.status)) schedule(); }, 500);

async function post(action) {
  const error = $("[data-testid=run-error]");
  try {
    const run = await api(`runs/${data.id}/${action}`, {method: "POST"});
    if (action === "cancel") { Object.assign(state.run, {status: run.status}); schedule(); }
    else location.assign(`/runs/${run.id}/`);
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  }
}
$("[data-action=cancel]").addEventListener("click", () => post("cancel"));
$("[data-action=rerun]").addEventListener("click", () => post("rerun"));
$("[data-action=resume]").addEventListener("click", () => post("resume"));
$("[data-action=reconnect]").addEventListener("click", () => socket.drop());

const start = decodeURIComponent((location.hash.match(/step=([^&]+)/) || [])[1] || "");
selectPath(start || null);

function loadHistory() {
  return api(`workflows/${data.workflow_id}/runs?limit=10`).then((runs) => {
  const list = $("[data-testid=run-history]");
  list.replaceChildren(...runs.map((run) => {
    const li = document.createElement("li");
    const link = Object.assign(document.createElement("a"), {href: `/runs/${run.id}/`, textContent: `#${run.id}`});
    if (run.id === data.id) link.setAttribute("aria-current", "page");
    const status = Object.assign(document.createElement("span"), {className: "status", textContent: ` ${mark(run.status)} ${run.status}`});
    status.dataset.status = run.status;
    li.append(link, status, ` ${duration(run.duration_ms)}`);
    return li;
  }));
  }).catch(() => {});
}
loadHistory();
