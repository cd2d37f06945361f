// A minimal live view of a run: the snapshot, then events; reconnects with ?after=N.
/** @type {HTMLScriptElement} */
const script = /** @type {any} */ (document.currentScript || document.querySelector("script[data-run]"));
const runId = script.dataset.run;
const statusEl = document.querySelector("[data-testid=run-status]");
const connEl = document.querySelector("[data-testid=connection]");
const list = document.getElementById("steps");
const rows = new Map();
let lastSeq = 0;

function row(path) {
  let li = rows.get(path);
  if (!li) {
    li = document.createElement("li");
    li.dataset.path = path;
    list.append(li);
    rows.set(path, li);
  }
  return li;
}

function show(path, status, extra = "") {
  if (path.includes("[")) return;
  const li = row(path);
  li.className = `status status-${status}`;
  li.textContent = `${path} — ${status}${extra}`;
}

function apply(msg) {
  if (msg.type === "snapshot") {
    lastSeq = msg.seq;
    statusEl.textContent = msg.run.status;
    for (const [path, step] of Object.entries(msg.steps)) show(path, step.status);
    return;
  }
  if (typeof msg.seq === "number") lastSeq = Math.max(lastSeq, msg.seq);
  const kind = msg.type;
  if (kind === "run.started") statusEl.textContent = "running";
  else if (kind === "run.finished") statusEl.textContent = msg.status;
  else if (kind === "step.started") show(msg.path, "running");
  else if (kind === "step.retrying") show(msg.path, "retrying", ` (attempt ${msg.attempt})`);
  else if (kind === "foreach.progress") show(msg.path, "running", ` ${msg.done + msg.failed}/${msg.total}`);
  else if (kind && kind.startsWith("step.")) show(msg.path, kind.slice(5), msg.error ? `: ${msg.error}` : "");
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const query = lastSeq ? `?after=${lastSeq}` : "";
  const ws = new WebSocket(`${proto}://${location.host}/ws/runs/${runId}/${query}`);
  ws.onopen = () => { connEl.textContent = "● live"; };
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "events") msg.events.forEach(apply);
    else apply(msg);
  };
  ws.onclose = (e) => {
    connEl.textContent = e.code >= 4400 ? "not allowed" : "reconnecting…";
    if (e.code < 4400) setTimeout(connect, 1000);
  };
}
connect();
