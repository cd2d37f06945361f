// The workflow list, live: ws/workflows/ says when a run starts or ends; its row's "last run"
// (status, where it came from, duration) and its week sparkline follow.
import {duration, mark} from "./status.js";

const note = document.querySelector("[data-testid=list-connection]");
const SPARK_MAX = 20;  // runs a sparkline shows (views.RECENT)

function runLink(msg, text) {
  const link = document.createElement("a");
  link.href = `/runs/${msg.run_id}/`;
  link.className = "status";
  link.dataset.status = msg.status;
  link.textContent = text;
  return link;
}

/** The run's mark in the sparkline: its status changes in place, a new run is added last. */
function spark(row, msg) {
  const cell = row.querySelector("[data-testid=sparkline]");
  if (!cell) return;
  let link = cell.querySelector(`a[data-run="${msg.run_id}"]`);
  if (!link) {
    cell.querySelector(".muted")?.remove();
    link = runLink(msg, "");
    link.dataset.run = String(msg.run_id);
    cell.append(link);
    while (cell.querySelectorAll("a").length > SPARK_MAX) cell.querySelector("a").remove();
  }
  link.dataset.status = msg.status;
  link.textContent = mark(msg.status);
  link.title = `run #${msg.run_id}: ${msg.status}`;
  link.setAttribute("aria-label", `run ${msg.run_id}: ${msg.status}`);
}

function show(msg) {
  const row = document.querySelector(`tr[data-workflow="${msg.workflow_id}"]`);
  if (!row) return;
  const cell = row.querySelector("[data-testid=last-run]");
  const parts = [runLink(msg, `${mark(msg.status)} ${msg.status}`)];
  if (msg.origin) {
    const origin = document.createElement("span");
    origin.className = "muted origin-line";
    origin.dataset.testid = "last-origin";
    origin.title = msg.origin;
    origin.textContent = msg.origin;
    parts.push(" ", origin);
  }
  cell.replaceChildren(...parts);
  row.querySelector("[data-testid=last-duration]").textContent = msg.duration_ms != null ? duration(msg.duration_ms) : "";
  spark(row, msg);
}

function connect(delay = 500) {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/workflows/`);
  ws.onopen = () => { note.textContent = "Run statuses update live."; delay = 500; };
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "run.status") show(msg);
  };
  ws.onclose = (e) => {
    if (e.code === 4401) return;
    note.textContent = "Reconnecting for live statuses…";
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
  };
}
if (document.querySelector("tr[data-workflow]")) connect();
