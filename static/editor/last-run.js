// The last run on the editor's cards, and trying one step with it (like n8n's pinned data).
// Each card gets a line under its head: the step's status, duration and a peek at its output
// in the latest run of the version being edited (never a trial), and a "Try" button that runs
// that step alone, from the text in the editor (saved or not), with that run's outputs as its
// `${...}` (builder/step_try.py). Cards are drawn by static/flow/render.js: they are decorated
// after each render (a mutation observer: a render replaces them, an edit redraws one).
import {api} from "../common/api.js";
import {duration, mark} from "../common/status.js";

const OUTPUT_SHOWN = 20000;  // characters of a tried step's output in the dialog

function el(tag, attrs = {}, text = "") {
  const node = Object.assign(document.createElement(tag), text ? {textContent: text} : {});
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function statusText(entry) {
  const items = entry.items ? ` · ${entry.items} item${entry.items === 1 ? "" : "s"}${entry.failed ? `, ${entry.failed} failed` : ""}` : "";
  const time = duration(entry.duration_ms);
  return `${mark(entry.status)} ${entry.status}${time ? ` · ${time}` : ""}${entry.attempt > 1 ? ` · attempt ${entry.attempt}` : ""}${items}`;
}

/**
 * Decorate the cards in `canvas` with the last run of the workflow's version. `version()` is the
 * version edited, `text()` the editor's text now. Returns {reload()} (after a save).
 */
export function mountLastRun(canvas, {workflowId, version, text}) {
  let last = {run: null, steps: {}};
  let queued = false;

  function tryButton(path) {
    const button = el("button", {type: "button", class: "try-step", "data-testid": "try-step",
      "aria-label": `Try ${path} alone with the outputs of run #${last.run.id}`,
      title: `Run ${path} alone, from the text as it is now, with the outputs of run #${last.run.id}`}, "▷ Try");
    button.addEventListener("click", (e) => { e.stopPropagation(); tryStep(path); });
    return button;
  }

  function line(card) {
    const path = card.dataset.path;
    const entry = last.steps[path];
    const row = el("div", {class: "last-run", "data-testid": "last-run", "data-keep-selection": ""});
    row.dataset.status = entry ? entry.status : "none";
    const status = el("span", {class: "status", "data-status": entry ? entry.status : "pending"},
      entry ? statusText(entry) : `○ not in run #${last.run.id}`);
    status.title = `in run #${last.run.id} (v${last.run.version}), ${new Date(last.run.created_at).toLocaleString()}`;
    row.append(status);
    // the server tries a step of the run's own flow only: not one that runs per item, pass or
    // case (try its block), nor a hook or a compensation (they run on failure)
    const inside = card.parentElement?.closest(".card-foreach, .card-switch, .card-repeat, .hook-lanes, .compensate");
    if (inside) {
      status.title += inside.matches(".hook-lanes, .compensate") ? "; a hook or compensation is not tried alone"
        : "; a step inside a foreach, repeat or switch is tried with its block";
    } else row.append(tryButton(path));
    if (entry && (entry.peek || entry.error)) {
      const peek = el("code", {class: entry.error ? "peek peek-error" : "peek", "data-testid": "peek"}, entry.error || entry.peek);
      peek.title = entry.error || entry.peek;
      row.append(peek);
    }
    return row;
  }

  function decorate() {
    queued = false;
    if (!last.run) return;
    for (const card of canvas.querySelectorAll(".card[data-path]")) {
      if (card.querySelector(":scope > .last-run") || !card.dataset.path) continue;
      const head = card.querySelector(":scope > .card-head");
      if (head) head.after(line(card));
    }
  }

  function undecorate() {
    canvas.querySelectorAll(".card > .last-run").forEach((n) => n.remove());
  }

  new MutationObserver(() => {
    if (!queued && last.run) { queued = true; queueMicrotask(decorate); }
  }).observe(canvas, {childList: true, subtree: true});

  async function reload() {
    try {
      last = await api(`workflows/${workflowId}/last-run?version=${version()}`);
    } catch {
      last = {run: null, steps: {}};  // the cards simply show no last run
    }
    undecorate();
    decorate();
    canvas.dataset.lastRun = last.run ? String(last.run.id) : "";
  }

  async function tryStep(path) {
    const d = document.querySelector("dialog[data-dialog=try]");
    const result = d.querySelector("[data-try-result]");
    const link = d.querySelector("[data-try-link]");
    d.querySelector("[data-try-what]").textContent =
      `${path}, from the text in the editor, with the outputs of run #${last.run.id} as its \${...}.`;
    result.replaceChildren(el("p", {class: "muted"}, "Running…"));
    result.setAttribute("aria-busy", "true");
    link.hidden = true;
    if (!d.open) d.showModal();
    let answer;
    try {
      answer = await api(`workflows/${workflowId}/try-step`, {method: "POST", body: {yaml: text(), step: path, run: last.run.id}});
    } catch (err) {
      const problems = (err.body?.errors || []).map((i) => `${i.line ? `line ${i.line}: ` : ""}${i.path ? `${i.path}: ` : ""}${i.message}`);
      result.replaceChildren(el("p", {class: "field-error", role: "alert", "data-testid": "try-error"},
        `Not tried: ${err.message}`), ...problems.map((p) => el("p", {class: "field-error"}, p)));
      result.removeAttribute("aria-busy");
      return;
    }
    result.removeAttribute("aria-busy");
    showAnswer(result, answer);
    link.href = answer.monitor;
    link.textContent = `Open trial run #${answer.run_id}`;
    link.hidden = false;
  }

  return {reload};
}

/** A trial's answer in the dialog: status, output or error, and what came from the run. */
function showAnswer(result, answer) {
  const step = answer.step;
  const head = el("p", {class: "status", "data-status": step ? step.status : answer.status, "data-testid": "try-status"},
    step ? statusText(step) : `${mark(answer.status)} ${answer.status}: still going, follow it in its monitor`);
  const parts = [head];
  if (step?.error) parts.push(el("pre", {class: "try-output field-error", "data-testid": "try-output"}, step.error));
  else if (step && step.status === "succeeded") {
    const shown = JSON.stringify(step.output, null, 2) ?? "null";
    parts.push(el("pre", {class: "try-output", "data-testid": "try-output", tabindex: "0", "aria-label": "Output"},
      shown.length > OUTPUT_SHOWN ? `${shown.slice(0, OUTPUT_SHOWN)}\n… (cut: see the trial run)` : shown));
    if (step.output_note) parts.push(el("p", {class: "muted"}, step.output_note));
  } else if (answer.error) parts.push(el("pre", {class: "try-output field-error"}, answer.error));
  const reused = answer.reused.length ? `reused ${answer.reused.join(", ")}` : "reused nothing";
  const skipped = answer.skipped.length ? `; skipped ${answer.skipped.join(", ")} (no whole output there)` : "";
  parts.push(el("p", {class: "muted", "data-testid": "try-context"},
    `From run #${answer.from_run}: ${reused}${skipped}. ${answer.saved ? "The saved text was tried." : "Your unsaved text was tried; nothing was saved."}`));
  result.replaceChildren(...parts);
}
