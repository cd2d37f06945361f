// One table row per run on the /runs/ page: id, workflow, status mark and word, where it came
// from, when it started and how long it took (a running run's time grows with each repaint).
import {duration, mark} from "../common/status.js";

const WHEN = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"});
export const ACTIVE = new Set(["queued", "running"]);

/** @param {string} tag @param {object} props @param {...(Node|string)} children */
function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** Where the run came from; a resume or re-run links to the run it came from. */
export function originCell(run) {
  const cell = el("td", {className: "origin"});
  cell.dataset.testid = "run-origin";
  cell.dataset.origin = run.origin;
  const from = run.origin_detail?.run;
  const text = run.origin_text || run.origin || "";
  const tail = `#${from}`;
  if (Number.isInteger(from) && text.endsWith(tail)) {
    cell.append(text.slice(0, -tail.length), el("a", {href: `/runs/${from}/`, textContent: tail}));
  } else {
    cell.textContent = text;
  }
  return cell;
}

/** The time a run has taken: its duration, or the time since it started while it goes on. */
export function runTime(run, now = Date.now()) {
  if (run.duration_ms != null) return duration(run.duration_ms);
  if (ACTIVE.has(run.status) && run.started_at) return duration(now - Date.parse(run.started_at));
  return "";
}

const STAFF = document.querySelector("[data-testid=runs-table]")?.hasAttribute("data-staff");

/** A <tr> for one run of `GET /api/runs/` (staff see everyone's: an owner column says whose). */
export function runRow(run) {
  const status = el("span", {className: "status", textContent: `${mark(run.status)} ${run.status}`,
    title: `status: ${run.status}`});
  status.dataset.status = run.status;
  const started = run.started_at || run.created_at;
  const when = started ? el("time", {dateTime: started, textContent: WHEN.format(new Date(started))}) : "";
  const row = el("tr", {},
    el("td", {}, el("a", {href: `/runs/${run.id}/`, textContent: `#${run.id}`})),
    el("td", {}, el("a", {href: `/workflows/${run.workflow_id}/`, textContent: run.workflow}),
      el("span", {className: "muted", textContent: ` v${run.version}`})),
    STAFF ? el("td", {className: "owner", textContent: run.owner || ""}) : "",
    el("td", {}, status),
    originCell(run),
    el("td", {}, when),
    el("td", {className: "num", textContent: runTime(run)}));
  row.dataset.run = String(run.id);
  row.dataset.status = run.status;
  return row;
}
