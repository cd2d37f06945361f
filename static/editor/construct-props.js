// The properties of the control-flow constructs, as forms: a switch's expression and cases
// (rename, remove, "+ case", the default), a group's repeat (until, max, delay), the steps of
// on_failure / finally / compensate lists (add one by choosing an action), and the workflow's
// concurrency across runs and its on_error. Every edit is made on the model in place; the
// caller's `changed(step?)` redraws and writes the YAML.
import {el, renameKey, set} from "./model-edit.js";
import {field} from "./schema-form.js";
import {caseNames, freshCase, inCompensation, kindOf, newStep} from "../flow/tree.js";
import {openLists} from "../flow/constructs.js";

const DURATION = {type: "scalar", description: "seconds, or 250ms / 10s / 2m / 1h"};
const CASE_NAME = /^\S(.*\S)?$/;
const LIST_HINT = {
  on_failure: "steps run when it fails (it stays failed); ${error} and ${run.status} are readable there",
  finally: "steps run at the end, whatever happened (also after a cancel)",
  compensate: "steps that undo this one, run only on a rollback (on_error: rollback around it)",
};

/** The switch's expression, its cases (renamed, removed, added) and whether it has a default. */
export function switchFields(step, changed, ctx) {
  const box = el("section", {className: "props-switch"});
  box.dataset.testid = "switch-form";
  box.append(field("switch", {type: "string", title: "switch", description: "an expression; its value, as text, picks the case"},
    step.switch, (v) => { set(step, "switch", v); changed(); }, ctx));
  const list = el("div", {className: "case-list"});
  const draw = () => {
    list.replaceChildren();
    for (const name of caseNames(step)) {
      let current = name;
      const row = el("div", {className: "case-row"});
      row.dataset.case = name;
      const rename = field("case", {type: "string", title: `case ${name}`, description: "the value (as text) that picks this case"}, name, (v) => {
        if (typeof v !== "string" || !CASE_NAME.test(v) || (v !== current && v in step.cases)) return;
        renameKey(step.cases, current, v);
        current = v;
        row.dataset.case = v;
        changed();
      }, ctx);
      const remove = el("button", {type: "button", textContent: `Remove case ${name}`, disabled: caseNames(step).length < 2});
      remove.addEventListener("click", () => {
        delete step.cases[current];
        changed();
        draw();
      });
      row.append(rename, remove);
      list.append(row);
    }
  };
  const add = el("button", {type: "button", className: "add", textContent: "+ case"});
  add.addEventListener("click", () => {
    step.cases = step.cases && typeof step.cases === "object" && !Array.isArray(step.cases) ? step.cases : {};
    step.cases[freshCase(step)] = [];
    changed();
    draw();
  });
  const fallback = field("default", {type: "boolean", title: "default lane", description: "steps run when no case matches (without it, no match skips the block)"},
    Array.isArray(step.default), (v) => {
      if (v && !Array.isArray(step.default)) step.default = [];
      if (!v) delete step.default;
      changed();
    }, ctx);
  draw();
  box.append(el("h3", {textContent: "Cases"}), list, add, fallback);
  return box;
}

/** A group's repeat: on/off, until, max, delay. */
export function repeatFields(step, changed, ctx) {
  const box = el("section", {className: "props-repeat"});
  box.dataset.testid = "repeat-form";
  const inner = el("div");
  const draw = () => {
    inner.replaceChildren();
    if (!step.repeat || typeof step.repeat !== "object") return;
    const r = step.repeat;
    inner.append(
      field("until", {type: "string", title: "until", description: "evaluated after each pass; ${loop.index} is the pass number"},
        r.until, (v) => { set(r, "until", v); changed(); }, ctx),
      field("max", {type: "integer", title: "max", description: "at most this many passes (required)"},
        r.max, (v) => { set(r, "max", v); changed(); }, ctx),
      field("delay", {...DURATION, title: "delay", description: "pause between passes"},
        r.delay, (v) => { set(r, "delay", v); changed(); }, ctx));
  };
  box.append(field("repeat", {type: "boolean", title: "repeat", description: "run the steps again until a condition holds"},
    Boolean(step.repeat), (v) => {
      if (v && !step.repeat) step.repeat = {until: "${loop.index >= 2}", max: 3};
      if (!v) delete step.repeat;
      changed();
      draw();
    }, ctx), inner);
  draw();
  return box;
}

/**
 * "on failure", "finally" and "compensate" of `owner` (a step, or the workflow): how many steps
 * each has, and an action picker that adds one there. `changed(added)` after an addition.
 */
export function listFields(owner, keys, {workflow, actions, changed}) {
  const box = el("section", {className: "props-lists"});
  box.dataset.testid = "lists-form";
  box.append(el("h3", {textContent: "Failure handling"}));
  for (const key of keys) {
    const steps = Array.isArray(owner[key]) ? owner[key] : [];
    const row = el("div", {className: "list-row"});
    row.dataset.list = key;
    const id = `add-${key}-${Math.random().toString(36).slice(2, 8)}`;
    const picker = el("select", {id});
    picker.append(el("option", {value: "", textContent: "choose an action…"}),
      ...actions.map((a) => el("option", {value: a.name, textContent: a.title ? `${a.name} — ${a.title}` : a.name})));
    const add = el("button", {type: "button", textContent: `Add to ${key}`});
    add.addEventListener("click", () => {
      const entry = actions.find((a) => a.name === picker.value);
      if (!entry) return picker.focus();
      const step = newStep(workflow, entry);
      owner[key] = Array.isArray(owner[key]) ? owner[key] : [];
      owner[key].push(step);
      const canvas = document.querySelector("[data-testid=canvas]");
      if (canvas) openLists(canvas).add(`${owner === workflow ? "" : owner.id}|${key}`);  // shown unfolded
      changed(step);
      words.textContent = ` (${named(owner[key])})`;
    });
    const named = (list) => (list.length ? list.map((s) => s?.id).filter(Boolean).join(", ") : "none");
    const words = el("span", {textContent: ` (${named(steps)})`});
    row.append(el("label", {htmlFor: id, title: LIST_HINT[key]}, el("strong", {textContent: key}), words), picker, add);
    box.append(row);
  }
  return box;
}

/** The workflow's on_error and its concurrency across runs (FORMAT.md "Per-workflow concurrency"). */
export function workflowFields(workflow, changed) {
  const ctx = {root: {}};
  const box = el("section", {className: "props-concurrency"});
  box.dataset.testid = "concurrency-form";
  const inner = el("div");
  const draw = () => {
    inner.replaceChildren();
    const c = workflow.concurrency;
    if (!c || typeof c !== "object") return;
    inner.append(
      field("limit", {type: "integer", title: "limit", description: "runs of this workflow at once, across every process"},
        c.limit, (v) => { set(c, "limit", v); changed(); }, ctx),
      field("when_busy", {enum: ["queue", "skip", "cancel_running"], title: "when busy", default: "queue",
        description: "a new run when the limit is reached: waits (queue), is not started (skip), or cancels the running one"},
      c.when_busy, (v) => { set(c, "when_busy", v); changed(); }, ctx));
  };
  box.append(el("h3", {textContent: "Runs at once"}),
    field("concurrency", {type: "boolean", title: "limit runs at once", description: "how many runs of this workflow may be active at once"},
      Boolean(workflow.concurrency), (v) => {
        if (v && !workflow.concurrency) workflow.concurrency = {limit: 1, when_busy: "queue"};
        if (!v) delete workflow.concurrency;
        changed();
        draw();
      }, ctx),
    inner,
    field("on_error", {enum: ["fail_fast", "wait_all", "continue", "rollback"], title: "on_error", default: "fail_fast",
      description: "what a failure of a top-level step does; rollback undoes the steps with compensate"},
    workflow.on_error, (v) => { set(workflow, "on_error", v === "fail_fast" ? undefined : v); changed(); }, ctx));
  draw();
  return box;
}

/** The lists a step of this kind may hold besides its work (none of a compensation's own). */
export function listKeysOf(step, workflow) {
  const kind = kindOf(step);
  const keys = ["parallel", "foreach", "group"].includes(kind) ? ["on_failure", "finally"] : [];
  return kind === "invalid" || inCompensation(workflow, step) ? keys : [...keys, "compensate"];
}
