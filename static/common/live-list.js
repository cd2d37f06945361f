// The workflow list's "last run" column, live: ws/workflows/ says when a run starts or ends.
import {duration, mark} from "./status.js";

const note = document.querySelector("[data-testid=list-connection]");

function show(msg) {
  const row = document.querySelector(`tr[data-workflow="${msg.workflow_id}"]`);
  if (!row) return;
  const cell = row.querySelector("[data-testid=last-run]");
  const link = document.createElement("a");
  link.href = `/runs/${msg.run_id}/`;
  link.className = "status";
  link.dataset.status = msg.status;
  link.textContent = `${mark(msg.status)} ${msg.status}`;
  cell.replaceChildren(link);
  row.querySelector("[data-testid=last-duration]").textContent = msg.duration_ms != null ? duration(msg.duration_ms) : "";
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
