// The parts of the flow drawing for the control-flow constructs (FORMAT.md "Additions"):
// a switch's cases side by side, a repeat's loop frame, the on_failure / finally lanes of a
// block or of the workflow, a step's compensation (folded), an approval's card body.
// Each list is a `.seq` drawn by render.js (`ctx.seq`), so its cards carry the step paths
// the engine gives them (planner.py, blocks/*.py): a case's step `route.book`, a hook's
// `block.alert` (the workflow's: `alert`), a repeat's `poll.check` (passes `poll[2].check`
// fold onto it as foreach items do), a compensation's `flight.compensate.cancel_flight`.
import {HOOK_KEYS, caseNames} from "./tree.js";
import {el} from "./dom.js";
import {icon} from "./icons.js";

const opened = new WeakMap();  // container -> Set of "stepId|key" lists shown (unfolded) by the user

/** The lists the user unfolded in the flow drawn in `container` (kept across redraws). */
export function openLists(container) {
  if (!opened.has(container)) opened.set(container, new Set());
  return opened.get(container);
}

const text = (value) => (typeof value === "string" ? value : JSON.stringify(value) ?? "");
const bare = (expr) => text(expr).replace(/^\$\{\s*([\s\S]*?)\s*\}$/, "$1");

/** A flow-action button: the canvas does the edit it names (the drawing never edits the model). */
function actionButton(label, action, extra = {}) {
  return el("button", {type: "button", class: "flow-add", "data-flow-action": action, text: label, ...extra});
}

/** A lane: a labelled `.seq` of steps (a case, the default, a hook). */
function lane(ctx, {ref, steps, path, yamlBase, label, role, head, extra = {}}) {
  const seq = ctx.seq(ref, steps, path, yamlBase, label, role);
  const node = el("div", {class: `lane lane-${role}`, "data-testid": `lane-${role}`, "data-yaml-path": yamlBase, ...extra},
    el("div", {class: "lane-head"}, ...head), seq);
  ctx.byYamlPath.set(yamlBase, node);
  return node;
}

/** A switch: the expression, then one lane per case (labelled with its value) and the default. */
export function switchBody(ctx, step, path, yamlPath) {
  const out = [el("div", {class: "switch-head construct-head"},  // the head's icon says "switch" already
    el("span", {text: "switch on "}), el("code", {text: bare(step.switch)}))];
  const row = el("div", {class: "lanes switch-lanes", "data-testid": "switch-lanes"});
  for (const name of caseNames(step)) {
    row.append(lane(ctx, {
      ref: {type: "list", owner: step.cases, key: name, step}, steps: step.cases[name], path,
      yamlBase: `${yamlPath}.cases.${name}`, label: `Case ${name} of ${step.id}`, role: "case",
      head: [el("span", {class: "case-label"}, el("span", {class: "muted", text: "= "}), el("span", {class: "case-value", text: name}))],
      extra: {"data-case": name},
    }));
  }
  if (Array.isArray(step.default)) {
    row.append(lane(ctx, {
      ref: {type: "list", owner: step, key: "default"}, steps: step.default, path,
      yamlBase: `${yamlPath}.default`, label: `Default of ${step.id}`, role: "default",
      head: [el("span", {class: "case-label", text: "default"})],
    }));
  }
  if (ctx.editable) {
    row.append(el("div", {class: "lane lane-new lane-adds"},
      actionButton("+ case", "add-case", {"aria-label": `+ case in ${step.id}`, "data-testid": "add-case"}),
      Array.isArray(step.default) ? null
        : actionButton("+ default", "add-default", {"aria-label": `+ default in ${step.id}`, "data-testid": "add-default"})));
  }
  out.push(row);
  return out;
}

/** A repeat: the group's steps inside a loop frame that says until what and how often. */
export function repeatFrame(ctx, step, path, yamlPath) {
  const repeat = step.repeat && typeof step.repeat === "object" ? step.repeat : {};
  const parts = [`at most ${repeat.max ?? "?"} passes`];
  if (repeat.delay !== undefined) parts.push(`${repeat.delay} between`);
  const frame = el("div", {class: "repeat-frame", "data-testid": "repeat-frame"},
    el("div", {class: "repeat-head construct-head"}, icon("repeat"), el("span", {text: "repeat until "}),
      el("code", {"data-testid": "repeat-until", text: bare(repeat.until ?? "")}),
      el("span", {class: "muted", "data-testid": "repeat-max", text: ` · ${parts.join(" · ")}`})),
    ctx.seq({type: "list", owner: step, key: "steps"}, step.steps, path, `${yamlPath}.steps`, `Steps of ${step.id}, repeated`, "steps"));
  return frame;
}

/** An approval's message, approvers and deadline, under its head. */
export function approvalBody(step) {
  const w = step.with && typeof step.with === "object" ? step.with : {};
  const who = Array.isArray(w.approvers) && w.approvers.length ? w.approvers.join(", ") : "the run's owner";
  return el("div", {class: "approval-body"},
    w.message !== undefined ? el("div", {class: "approval-message", text: `“${text(w.message)}”`}) : null,
    el("div", {class: "approval-who muted", text: `decided by ${who}${w.timeout !== undefined ? ` · within ${text(w.timeout)}` : ""}`}));
}

const HOOK_LABEL = {on_failure: "on failure", finally: "finally"};
const HOOK_ICON = {on_failure: "alert", finally: "finally"};

/**
 * The on_failure and finally lanes of a block (or of the workflow: `workflow` true). Drawn when
 * the step has them; in the editor also when unfolded, and the workflow's always (drop zones).
 */
export function hookLanes(ctx, owner, path, yamlPath, {workflow = false} = {}) {
  const open = ctx.open;
  const key = (k) => `${workflow ? "" : owner.id}|${k}`;
  const shown = HOOK_KEYS.filter((k) => Array.isArray(owner[k]) || (ctx.editable && (workflow || open.has(key(k)))));
  const missing = HOOK_KEYS.filter((k) => !shown.includes(k));
  if (!shown.length && !(ctx.editable && missing.length)) return null;
  const yamlAt = (k) => (yamlPath ? `${yamlPath}.${k}` : k);
  const row = el("div", {class: `lanes hook-lanes${workflow ? " workflow-hooks" : ""}${shown.length ? "" : " adds-only"}`, "data-testid": "hook-lanes"});
  for (const k of shown) {
    row.append(lane(ctx, {
      ref: {type: "list", owner, key: k}, steps: owner[k] || [], path, yamlBase: yamlAt(k),
      label: `${HOOK_LABEL[k]} of ${workflow ? "the workflow" : owner.id}`, role: k,
      head: [el("span", {class: "hook-label"}, icon(HOOK_ICON[k]), el("span", {text: ` ${HOOK_LABEL[k]}`})),
        el("span", {class: "muted small", text: k === "on_failure" ? "runs when it fails" : "runs at the end, whatever happened"})],
    }));
  }
  if (ctx.editable && missing.length) {
    row.append(el("div", {class: "lane lane-new lane-adds"}, ...missing.map((k) => actionButton(`+ ${HOOK_LABEL[k]}`, "open-list",
      {"data-open-key": key(k), "aria-label": `+ ${HOOK_LABEL[k]} in ${owner.id}`, "data-testid": `add-${k}`}))));
  }
  return row;
}

/**
 * A step's compensation, folded by default behind a toggle that says how many steps it has;
 * in the editor a step without one offers "+ compensate".
 */
export function compensateFold(ctx, step, path, yamlPath) {
  const k = `${step.id}|compensate`;
  const has = Array.isArray(step.compensate);
  if (!has && !(ctx.editable && ctx.open.has(k))) {
    return ctx.editable
      ? el("div", {class: "card-foot card-foot-add"}, actionButton("+ compensate", "open-list",
        {"data-open-key": k, class: "flow-add fold-add", "aria-label": `+ compensate in ${step.id}`, "data-testid": "add-compensate"}))
      : null;
  }
  const steps = step.compensate || [];
  const open = ctx.open.has(k);
  const section = el("div", {class: "compensate", "data-testid": "compensate", hidden: !open});
  const base = `${yamlPath}.compensate`;
  section.append(ctx.seq({type: "list", owner: step, key: "compensate"}, steps, `${path}.compensate`, base,
    `Compensation of ${step.id}`, "compensate"));
  ctx.byYamlPath.set(base, section);
  const toggle = el("button", {type: "button", class: "fold", "aria-expanded": String(open), "data-testid": "fold-compensate",
    "aria-label": `${step.id}: compensate · ${steps.length} step${steps.length === 1 ? "" : "s"}`},
  icon("undo"), el("span", {text: ` compensate · ${steps.length} step${steps.length === 1 ? "" : "s"}`}));
  toggle.addEventListener("click", () => setFold(toggle, section.hidden, ctx.open, k));
  if (!ctx.editable && !open && typeof MutationObserver !== "undefined") {
    // on a run's page, a compensation that ran unfolds once (the monitor paints statuses on cards)
    const watch = new MutationObserver(() => {
      if (!section.querySelector(".card[data-status]:not([data-status=pending]):not([data-status=skipped])")) return;
      watch.disconnect();
      if (section.hidden) setFold(toggle, true, ctx.open, k);
    });
    watch.observe(section, {subtree: true, attributes: true, attributeFilter: ["data-status"]});
  }
  return el("div", {class: "card-foot"}, toggle, section);
}

function setFold(toggle, show, open, key) {
  const section = toggle.nextElementSibling;
  section.hidden = !show;
  toggle.setAttribute("aria-expanded", String(show));
  if (show) open.add(key); else open.delete(key);
}

/** Unfold the compensation under `card` (the monitor does when one of its steps ran). */
export function unfold(card) {
  const toggle = card.querySelector(":scope > .card-foot > .fold");
  if (toggle && toggle.getAttribute("aria-expanded") !== "true") toggle.click();
}
