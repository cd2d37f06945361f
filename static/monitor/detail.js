// The step detail pane: status, attempts (each with its duration and error), inputs as resolved
// (secrets already redacted by the server), output, error and log lines, "restart from this
// step"; for a foreach, its items by index, paged (builder/monitor_api.py).
import {api} from "../common/api.js";
import {duration, mark} from "../common/status.js";
import {statusText} from "./flow.js";

const PAGE = 50;
const ENDED = new Set(["succeeded", "failed", "cancelled", "interrupted"]);  // a run that may be restarted
const SHOWN_CHARS = 20000;  // more JSON than this waits for a click: laying out 10 000 lines takes 100 ms

/** A value as indented JSON; a big one cut, with a button that shows the rest. */
function json(value) {
  const text = value === undefined ? "" : JSON.stringify(value, null, 2);
  const pre = document.createElement("pre");
  pre.className = "json";
  pre.tabIndex = 0;
  if (text.length <= SHOWN_CHARS) {
    pre.textContent = text;
    return pre;
  }
  pre.textContent = `${text.slice(0, SHOWN_CHARS)}\n…`;
  const lines = text.split("\n").length;
  const more = Object.assign(document.createElement("button"), {type: "button", className: "show-all",
    textContent: `Show all ${lines.toLocaleString("en")} lines (${Math.round(text.length / 1024)} KB)`});
  more.dataset.testid = "show-all";
  more.addEventListener("click", () => {
    pre.textContent = text;
    more.remove();
  });
  const box = document.createElement("div");
  box.append(pre, more);
  return box;
}

function section(title, ...content) {
  const details = document.createElement("details");
  details.open = true;
  const summary = document.createElement("summary");
  summary.textContent = title;
  details.append(summary, ...content);
  return details;
}

/** An attempt's length: its own figure, else from its row's start and end (a retried attempt has none). */
function attemptMs(row) {
  if (row.duration_ms != null) return row.duration_ms;
  if (row.started_at && row.finished_at) return Date.parse(row.finished_at) - Date.parse(row.started_at);
  return null;
}

/** Every attempt of a step: number, status, duration and error. */
function attemptsList(rows) {
  const list = document.createElement("ol");
  list.className = "attempts";
  list.dataset.testid = "attempts";
  for (const row of rows) {
    const li = document.createElement("li");
    li.dataset.testid = "attempt";
    const ms = attemptMs(row);
    li.textContent = `attempt ${row.attempt}: ${mark(row.status)} ${row.status}${ms != null ? ` · ${duration(ms)}` : ""}`;
    if (row.error) {
      const error = Object.assign(document.createElement("pre"), {className: "error", textContent: row.error});
      li.append(error);
    }
    list.append(li);
  }
  return list;
}

/**
 * Mount the pane in `root`; show(path) fills it, refresh() re-reads the selected step.
 * `restart(path)` (when the server can restart a run from a step) starts that re-run.
 */
export function mountDetail(root, runId, state, options) {
  const {onSelect, resumedFrom = null} = options;
  const restart = (path) => options.restart(path);  // read late: known once the server said it can
  let selected = null;
  let token = 0;

  /** Fill the pane; a read the server refuses (an approver's run once decided: 404) is said in it. */
  async function show(path) {
    const mine = token + 1;
    try {
      await fill(path);
    } catch (err) {
      if (mine !== token) return;
      const note = Object.assign(document.createElement("p"), {className: "field-error", textContent: err.message});
      note.dataset.testid = "detail-refused";
      root.append(note);
    }
  }

  async function fill(path) {
    selected = path;
    const mine = ++token;
    root.replaceChildren();
    if (!path) {
      root.innerHTML = "<p class=muted>Select a step (a card or a timeline bar) to see its inputs, output, error and log.</p>";
      if (["succeeded", "failed", "cancelled"].includes(state.run.status)) {
        const run = await api(`runs/${runId}`);  // the outputs in full (the snapshot leaves big ones out)
        if (mine !== token || run.outputs === null || run.outputs === undefined) return;
        const out = section("Outputs of the run", json(run.outputs));
        out.dataset.testid = "run-outputs";
        root.append(out);
      }
      return;
    }
    const head = document.createElement("h2");
    head.dataset.testid = "detail-title";
    head.textContent = path;
    const facts = document.createElement("p");
    facts.dataset.testid = "detail-facts";
    const step = state.steps.get(path);
    if (step?.reused) facts.textContent = `${statusText(step, resumedFrom)}: its output was taken as it was, not run again`;
    else if (step) {
      facts.textContent = `${mark(step.status)} ${step.status} · ${step.attempts || 0} attempt${step.attempts === 1 ? "" : "s"}` +
        `${step.duration_ms != null ? ` · ${duration(step.duration_ms)}` : ""}`;
    } else facts.textContent = state.ready ? "not started" : "loading…";
    root.append(head, facts);
    if (options.restart && ENDED.has(state.run.status) && options.startable(path)) root.append(restartButton(path));
    if (state.progress.has(path)) root.append(await itemsPager(path, 0, mine));
    const [rows, logs] = await Promise.all([
      api(`runs/${runId}/steps?path=${encodeURIComponent(path)}&limit=50`),
      api(`runs/${runId}/logs?path=${encodeURIComponent(path)}`),
    ]);
    if (mine !== token) return;
    const last = rows[rows.length - 1];
    if (last) {
      if (last.error) {
        const error = document.createElement("pre");
        error.className = "error";
        error.dataset.testid = "detail-error";
        error.textContent = last.error;
        root.append(section("Error", error));
      }
      if (last.inputs !== null && last.inputs !== undefined) root.append(section("Inputs (as resolved)", json(last.inputs)));
      if (last.output !== null && last.output !== undefined) {
        root.append(section(`Output${last.output_note ? ` (${last.output_note})` : ""}`, json(last.output)));
      }
      if (rows.length > 1) {
        state.setTries(path, rows);
        root.append(section(`Attempts (${rows.length})`, attemptsList(rows)));
      }
    }
    const lines = logs.length ? logs : (state.logs.get(path) || []);
    if (lines.length) {
      const pre = document.createElement("pre");
      pre.className = "log";
      pre.dataset.testid = "detail-log";
      pre.textContent = lines.map((l) => `[${l.level}] ${l.message}`).join("\n");
      root.append(section("Log", pre));
    }
  }

  function restartButton(path) {
    const box = document.createElement("div");
    box.className = "restart";
    const button = Object.assign(document.createElement("button"), {type: "button",
      textContent: "↻ Restart from this step", title: "A new run that reuses everything before this step and runs it and what follows"});
    button.dataset.testid = "restart";
    const error = Object.assign(document.createElement("p"), {className: "field-error", hidden: true});
    error.setAttribute("role", "alert");
    error.dataset.testid = "restart-error";
    button.addEventListener("click", async () => {
      button.disabled = true;
      error.hidden = true;
      try {
        await restart(path);
      } catch (err) {
        error.textContent = `Cannot restart from ${path}: ${err.message}`;
        error.hidden = false;
        button.disabled = false;
      }
    });
    box.append(button, error);
    return box;
  }

  async function itemsPager(path, offset, mine) {
    const box = document.createElement("div");
    box.className = "items";
    box.dataset.testid = "items";
    const ids = options.bodyOf?.(path) || [];  // found by exact path when known: fast in a big run
    const page = await api(`runs/${runId}/items?path=${encodeURIComponent(path)}&offset=${offset}&limit=${PAGE}` +
      `${ids.length ? `&steps=${encodeURIComponent(ids.join(","))}` : ""}`);
    if (mine !== token) return box;
    const rows = page.rows;
    const last = Math.min(offset + PAGE, page.total ?? offset + PAGE);
    const table = document.createElement("table");
    table.className = "table";
    table.innerHTML = "<caption></caption><thead><tr><th>item</th><th>step</th><th>status</th><th>duration</th><th>error</th></tr></thead>";
    table.querySelector("caption").textContent = `Items of ${path}: ${offset + 1}–${last}` +
      `${page.total != null ? ` of ${page.total}` : ""}`;
    const body = document.createElement("tbody");
    for (const row of rows) {
      const tr = document.createElement("tr");
      tr.dataset.testid = "item-row";
      tr.dataset.item = String(row.item);
      tr.innerHTML = "<td></td><td><button type=button class=link></button></td><td></td><td></td><td></td>";
      tr.children[0].textContent = String(row.item);
      tr.querySelector("button").textContent = `${row.path}${row.attempt > 1 ? ` #${row.attempt}` : ""}`;
      tr.querySelector("button").addEventListener("click", () => onSelect(row.path));
      tr.children[2].textContent = `${mark(row.status)} ${row.status}`;
      tr.children[3].textContent = duration(row.duration_ms);
      tr.children[4].textContent = row.error || "";
      body.append(tr);
    }
    table.append(body);
    const nav = document.createElement("div");
    nav.className = "pager";
    const prev = Object.assign(document.createElement("button"), {type: "button", textContent: "← previous", disabled: offset === 0});
    const more = page.total != null ? offset + PAGE < page.total : rows.length > 0;
    const next = Object.assign(document.createElement("button"), {type: "button", textContent: "next →", disabled: !more});
    next.dataset.testid = "items-next";
    const turn = (to) => itemsPager(path, to, token).then((page) => box.replaceWith(page), (err) => {
      nav.append(Object.assign(document.createElement("span"), {className: "field-error", textContent: ` ${err.message}`}));
    });
    prev.addEventListener("click", () => turn(Math.max(offset - PAGE, 0)));
    next.addEventListener("click", () => turn(offset + PAGE));
    nav.append(prev, " ", next);
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    wrap.append(table);
    box.append(wrap, nav);
    return box;
  }

  return {
    show,
    /** The server can restart runs (known late): add the button to the step shown, leaving the rest as it is. */
    offerRestart() {
      const facts = root.querySelector("[data-testid=detail-facts]");
      if (!selected || !facts || root.querySelector("[data-testid=restart]")) return;
      if (options.restart && ENDED.has(state.run.status) && options.startable(selected)) facts.after(restartButton(selected));
    },
    selected: () => selected,
    /** Re-read the selected step when it changed (a terminal event for it arrived). */
    refresh(changed, runEnded = false) {
      if (!selected && runEnded) show(null);
      if (selected && changed.has(selected)) {
        const step = state.steps.get(selected);
        if (!step || !["running", "retrying"].includes(step.status)) show(selected);
      }
    },
  };
}
