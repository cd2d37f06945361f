// The step detail pane: status, attempts, duration, inputs as resolved (secrets already
// redacted by the server), output, error and log lines; for a foreach, its items, paged.
import {api} from "../common/api.js";
import {duration, mark} from "../common/status.js";

const PAGE = 50;
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

/** Mount the pane in `root`; show(path) fills it, refresh() re-reads the selected step. */
export function mountDetail(root, runId, state, {onSelect}) {
  let selected = null;
  let token = 0;

  async function show(path) {
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
    facts.textContent = step
      ? `${mark(step.status)} ${step.status} · ${step.attempts || 0} attempt${step.attempts === 1 ? "" : "s"}${step.duration_ms != null ? ` · ${duration(step.duration_ms)}` : ""}`
      : "not started";
    root.append(head, facts);
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
        const list = document.createElement("ol");
        for (const row of rows) {
          const li = document.createElement("li");
          li.textContent = `${mark(row.status)} ${row.status} · ${duration(row.duration_ms)}${row.error ? ` · ${row.error}` : ""}`;
          list.append(li);
        }
        root.append(section("Attempts", list));
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

  async function itemsPager(path, offset, mine) {
    const box = document.createElement("div");
    box.className = "items";
    box.dataset.testid = "items";
    const rows = await api(`runs/${runId}/steps?prefix=${encodeURIComponent(`${path}[`)}&offset=${offset}&limit=${PAGE}`);
    if (mine !== token) return box;
    const table = document.createElement("table");
    table.className = "table";
    table.innerHTML = "<caption></caption><thead><tr><th>item step</th><th>status</th><th>duration</th><th>error</th></tr></thead>";
    table.querySelector("caption").textContent = `Items of ${path}: rows ${offset + 1}–${offset + rows.length}`;
    const body = document.createElement("tbody");
    for (const row of rows) {
      const tr = document.createElement("tr");
      tr.dataset.testid = "item-row";
      tr.innerHTML = "<td><button type=button class=link></button></td><td></td><td></td><td></td>";
      tr.querySelector("button").textContent = `${row.path}${row.attempt > 1 ? ` #${row.attempt}` : ""}`;
      tr.querySelector("button").addEventListener("click", () => onSelect(row.path));
      tr.children[1].textContent = `${mark(row.status)} ${row.status}`;
      tr.children[2].textContent = duration(row.duration_ms);
      tr.children[3].textContent = row.error || "";
      body.append(tr);
    }
    table.append(body);
    const nav = document.createElement("div");
    nav.className = "pager";
    const prev = Object.assign(document.createElement("button"), {type: "button", textContent: "← previous", disabled: offset === 0});
    const next = Object.assign(document.createElement("button"), {type: "button", textContent: "next →", disabled: rows.length < PAGE});
    next.dataset.testid = "items-next";
    prev.addEventListener("click", async () => box.replaceWith(await itemsPager(path, Math.max(offset - PAGE, 0), token)));
    next.addEventListener("click", async () => box.replaceWith(await itemsPager(path, offset + PAGE, token)));
    nav.append(prev, " ", next);
    box.append(table, nav);
    return box;
  }

  return {
    show,
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
