// The monitor page: the run's flow with live statuses, the timeline, figures, step detail,
// approvals, sub-workflows, the toolbar's actions and the connection indicator. Repaints at
// most once a frame. `#step=<path>` selects a step; `#sub=<path>` shows a sub-workflow's steps
// as their own view.
import {api} from "../common/api.js";
import {duration, mark} from "../common/status.js";
import {parse} from "../vendor/yaml.js";
import {connectRun} from "./socket.js";
import {RunState} from "./state.js";
import {mountFlow} from "./flow.js";
import {mountViewport} from "../flow/viewport.js";
import {mountTimeline} from "./timeline.js";
import {mountDetail} from "./detail.js";
import {mountApprovals} from "./approvals.js";
import {decorateSubflows, loadSubrun} from "./subflow.js";
import {canRestart, mountActions} from "./actions.js";
import {figuresText, paintMoreFigures, paintStatus} from "./header.js";

const data = JSON.parse(document.getElementById("monitor-data").textContent);
const $ = (sel) => document.querySelector(sel);
const state = new RunState();
const ACTIVE = new Set(["queued", "running"]);
const hash = new URLSearchParams(location.hash.slice(1));
const subPath = hash.get("sub") || "";

let workflow;
try {
  workflow = parse(data.yaml) || {steps: []};
} catch {
  workflow = {steps: []};
}
if (subPath) workflow = await subWorkflow(subPath);

/** The sub-workflow shown as its own view, with a way back to the whole run. */
async function subWorkflow(path) {
  const crumb = $("[data-testid=subflow-crumb]");
  crumb.hidden = false;
  try {
    const sub = await loadSubrun(data.id, path);
    crumb.querySelector("span").textContent = `› ${path}: ${sub.name} v${sub.version} (sub-workflow)`;
    return sub.workflow;
  } catch (err) {
    crumb.querySelector("span").textContent = `› ${path}: ${err.message}`;
    return {steps: []};
  }
}

function selectPath(path) {
  const next = new URLSearchParams();
  if (subPath) next.set("sub", subPath);
  if (path) next.set("step", path);
  if (path || subPath) history.replaceState(null, "", `#${next.toString().replaceAll("%5B", "[").replaceAll("%5D", "]")}`);
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
    const first = !state.ready;
    state.snapshot(msg);
    state.ready = true;
    flow.update(state, null);
    timeline.update(state, null, Date.now() / 1000);
    if (first && detail.selected()) detail.show(detail.selected());  // shown before the snapshot: read again
    else detail.refresh(new Set(), !ACTIVE.has(state.run.status));
    paintRun();
    paintOrigin(state.run);
    loadDetails();
    if (!document.body.dataset.ready) performance.mark("wf:first-render");
    document.body.dataset.ready = "true";
  },
  onEvents(events) {
    const t = performance.now();
    for (const e of events) {
      state.apply(e);
      if (e.type === "step.waiting" || (e.type === "run.finished" && e.status === "waiting")) approvals.refresh();
    }
    schedule();
    performance.measure("wf:events", {start: t});
  },
  onState(value) {
    connection.dataset.state = value;
    connection.textContent = {connecting: "○ connecting…", live: "● live", reconnecting: "◌ reconnecting…",
      refused: "✕ not allowed"}[value];
  },
});

const actions = mountActions(data.id, {onCancelled(run) { Object.assign(state.run, {status: run.status}); schedule(); }});
mountViewport($("[data-testid=flow]"));
const flow = mountFlow($("[data-testid=flow]"), workflow, {onSelect: selectPath, onItems: selectPath, prefix: subPath,
  resumedFrom: data.resumed_from});
const timeline = mountTimeline($("[data-testid=timeline]"), flow.rows(), {onSelect: selectPath, resumedFrom: data.resumed_from,
  within: subPath ? `${subPath}.` : ""});
const restart = {fn: null};
const detail = mountDetail($("[data-testid=detail]"), data.id, state, {onSelect: selectPath, resumedFrom: data.resumed_from,
  get restart() { return restart.fn; }, startable: (path) => !insideSubflow(path), bodyOf});
const approvals = mountApprovals($("[data-testid=approvals]"), data.id, {onDecided: () => schedule()});
decorateSubflows($("[data-testid=flow]"), flow.steps, data.id, (byPath, canvas) => {
  flow.adopt(byPath);
  const parent = canvas.closest(".card")?.dataset.path;
  timeline.insertRows(parent, flow.rows(canvas));
  flow.update(state, null);
  timeline.update(state, null, Date.now() / 1000);
  paintCritical();
});
canRestart().then((yes) => {
  if (!yes) return;
  restart.fn = actions.restart;
  detail.offerRestart();
});

/** The ids of the steps directly in a foreach's body (its cards' own children). */
function bodyOf(path) {
  const card = flow.byPath.get(path.replace(/\[\d+\]/g, ""));
  if (!card) return [];
  return [...card.querySelectorAll(".card")].filter((c) => c.parentElement.closest(".card") === card)
    .map((c) => c.dataset.id).filter((id) => id && !/[,[\].]/.test(id));
}

/** Is `path` a step of a sub-workflow (it runs with its `workflow` step: no starting point of its own)? */
function insideSubflow(path) {
  if (subPath) return true;
  for (let cut = path.lastIndexOf("."); cut > 0; cut = path.lastIndexOf(".", cut - 1)) {
    const node = flow.byPath.get(path.slice(0, cut));
    if (node && flow.steps.get(node)?.uses === "workflow") return true;
  }
  return false;
}

/** What the snapshot leaves out: every attempt of retried steps, the steps a resume reused. */
function loadDetails() {
  for (const [path, step] of state.steps) {
    if (step.attempts > 1 && step.tries.length < step.attempts) {
      api(`runs/${data.id}/steps?path=${encodeURIComponent(path)}&limit=100`).then((rows) => {
        state.setTries(path, rows);
        schedule();
      }).catch(() => {});
    }
  }
  if (data.resumed_from) {
    api(`runs/${data.id}/reused`).then((reused) => {
      state.markReused(reused.paths);
      schedule();
    }).catch(() => {});
  }
  if (state.run.status === "waiting" || [...state.steps.values()].some((s) => s.status === "waiting")) approvals.refresh();
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

let shownCritical = "";
function paintCritical() {
  const paths = state.run.summary?.critical_path;
  const given = Array.isArray(paths) ? paths.filter((p) => typeof p === "string") : [];
  shownCritical = given.join("\n");
  // an item's step ("each[3].work") is marked on its body's card and row ("each.work")
  const list = [...new Set(given.flatMap((p) => [p, p.replace(/\[\d+\]/g, "")]))];
  flow.critical(list);
  timeline.critical(list);
}

let shownStatus = null;
function paintRun() {
  const run = state.run;
  if (shownStatus !== null && shownStatus !== run.status && !ACTIVE.has(run.status)) loadHistory();
  if (shownStatus !== null && shownStatus !== run.status && run.status !== "waiting") approvals.refresh();
  // the run ended with a step shown: show it again (now it can be restarted from)
  if (shownStatus !== null && shownStatus !== run.status && !ACTIVE.has(run.status) && detail.selected()) {
    detail.show(detail.selected());
  }
  shownStatus = run.status;
  paintStatus(run);
  $("[data-testid=figures]").textContent = figuresText(state, flow.plan());
  paintMoreFigures($("[data-testid=more-figures]"), run.summary);
  const critical = Array.isArray(run.summary?.critical_path) ? run.summary.critical_path.join("\n") : "";
  if (critical !== shownCritical) paintCritical();
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
$("[data-action=reconnect]").addEventListener("click", () => socket.drop());

selectPath(hash.get("step") || null);
showResumeReport();

/** What the resume that made this run reused and dropped (its answer, kept by actions.js for this page). */
function showResumeReport() {
  const key = `wf:resume:${data.id}`;
  const report = JSON.parse(sessionStorage.getItem(key) || "null");
  if (!report) return;
  sessionStorage.removeItem(key);
  const box = $("[data-testid=resume-report]");
  const from = report.from_version !== report.to_version ? ` (version ${report.from_version} → ${report.to_version})` : "";
  const what = report.from_step ? `restarted from ${report.from_step}` : `resumed with the ${report.version} version${from}`;
  box.textContent = `${what}: reused ${report.reused?.length ? report.reused.join(", ") : "nothing"}` +
    `${report.dropped?.length ? `; run again (changed or gone): ${report.dropped.join(", ")}` : ""}.`;
  box.hidden = false;
}

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
