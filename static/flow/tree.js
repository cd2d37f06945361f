// The workflow model as the YAML gives it, and the edits the canvas makes to it.
// Sequences are named by "refs" that hold objects, not indexes, so an edit that shifts
// indexes (a step moved out of a list above its target) never aims at the wrong place.
// A step holds several lists of steps (FORMAT.md): a block's work, a switch's cases and
// default, the on_failure and finally hooks of a block (or of the workflow), a step's
// compensate; every function here sees all of them.

/** @typedef {{[key: string]: any}} Step */
/**
 * `step` is the step (or workflow) that holds the list when `owner` is not it (a switch's
 * `cases` mapping).
 * @typedef {{type: "list", owner: any, key: string, step?: Step} | {type: "branch", block: Step, item: Step} | {type: "newbranch", block: Step}} SeqRef
 */

export const HOOK_KEYS = ["on_failure", "finally"];
/** Lists that mean nothing when empty: an emptied one leaves the YAML. */
const OPTIONAL_KEYS = new Set([...HOOK_KEYS, "compensate"]);

/** The kind of a step: action, parallel, foreach, switch or group (the engine's order of keys). */
export function kindOf(step) {
  if (!step || typeof step !== "object" || Array.isArray(step)) return "invalid";
  if ("switch" in step) return "switch";
  if ("foreach" in step) return "foreach";
  if ("parallel" in step) return "parallel";
  if ("uses" in step) return "action";
  if ("steps" in step) return "group";
  return "invalid";
}

/** True when a parallel branch is a sequence (a group) rather than one step. */
export function isGroupBranch(item) {
  return kindOf(item) === "group";
}

/** True for a group run again until a condition holds. */
export function isRepeat(step) {
  return kindOf(step) === "group" && step.repeat !== undefined && step.repeat !== null;
}

/** The case names of a switch, in order (none when `cases` is not a mapping). */
export function caseNames(step) {
  const cases = step?.cases;
  return cases && typeof cases === "object" && !Array.isArray(cases) ? Object.keys(cases) : [];
}

/**
 * Every list of steps `step` holds, its own work first, then its hooks and its compensation:
 * `{role, ref, list}` where role is steps | parallel | case | default | on_failure | finally | compensate.
 * The workflow itself answers with its steps and hooks.
 */
export function listsOf(step, {workflow = false} = {}) {
  const out = [];
  if (!step || typeof step !== "object") return out;
  const push = (role, owner, key, extra = {}) => {
    if (Array.isArray(owner[key])) out.push({role, list: owner[key], ref: {type: "list", owner, key, ...extra}, name: extra.name});
  };
  const kind = workflow ? "group" : kindOf(step);
  if (kind === "parallel") push("parallel", step, "parallel");
  else if (kind === "foreach" || kind === "group") push("steps", step, "steps");
  else if (kind === "switch") {
    for (const name of caseNames(step)) push("case", step.cases, name, {step, name});
    push("default", step, "default");
  }
  if (workflow || kind === "parallel" || kind === "foreach" || kind === "group") {
    for (const key of HOOK_KEYS) push(key, step, key);
  }
  if (!workflow) push("compensate", step, "compensate");
  return out;
}

/** The array of steps a ref names (a one-step branch reads as a list of one). */
export function seqOf(ref) {
  if (ref.type === "list") {
    if (!Array.isArray(ref.owner[ref.key])) ref.owner[ref.key] = [];
    return ref.owner[ref.key];
  }
  if (ref.type === "branch") return isGroupBranch(ref.item) ? seqOf({type: "list", owner: ref.item, key: "steps"}) : [ref.item];
  return [];
}

/** Every step inside `steps`, depth first, in every nested list, with its parent step (null at the top). */
export function* walk(steps, parent = null) {
  for (const step of steps || []) {
    if (!step || typeof step !== "object") continue;
    yield {step, parent};
    for (const {list} of listsOf(step)) yield* walk(list, step);
  }
}

/** Every step of the workflow: its steps, then its on_failure and finally hooks. */
export function* walkWorkflow(workflow) {
  for (const {list} of listsOf(workflow, {workflow: true})) yield* walk(list);
}

/** All step ids in use. */
export function idsOf(workflow) {
  return new Set([...walkWorkflow(workflow)].map(({step}) => step.id).filter(Boolean));
}

/** A fresh id from a base name (`http` -> `http_2`), unique in the workflow. */
export function freshId(workflow, base) {
  const ids = idsOf(workflow);
  const stem = String(base || "step").replace(/[^a-zA-Z0-9_]/g, "_").replace(/^(?=[0-9])/, "s_");
  if (!ids.has(stem)) return stem;
  for (let n = 2; ; n++) if (!ids.has(`${stem}_${n}`)) return `${stem}_${n}`;
}

/** A case name not taken in `step`'s cases (`case_3`). */
export function freshCase(step, base = "case") {
  const taken = new Set(caseNames(step));
  for (let n = taken.size + 1; ; n++) if (!taken.has(`${base}_${n}`)) return `${base}_${n}`;
}

/** A new step for a palette entry: an action or skill name, or a block kind. */
export function newStep(workflow, entry) {
  if (entry.block === "parallel") {
    return {id: freshId(workflow, "parallel"), parallel: []};
  }
  if (entry.block === "foreach") {
    return {id: freshId(workflow, "each"), foreach: "${inputs.items}", as: "item", concurrency: 8, steps: []};
  }
  if (entry.block === "group") return {id: freshId(workflow, "group"), steps: []};
  if (entry.block === "switch") {
    // two empty cases and a default: a valid shape to drop steps into
    return {id: freshId(workflow, "route"), switch: "${inputs.kind}", cases: {a: [], b: []}, default: []};
  }
  if (entry.block === "repeat") {
    return {id: freshId(workflow, "poll"), repeat: {until: "${loop.index >= 2}", max: 3}, steps: []};
  }
  const step = {id: freshId(workflow, entry.name), uses: entry.name};
  if (entry.defaults && Object.keys(entry.defaults).length) step.with = structuredClone(entry.defaults);
  return step;
}

/** True when `inner` is `outer` or lies anywhere inside it. */
export function contains(outer, inner) {
  if (outer === inner) return true;
  for (const {step} of walk([outer])) if (step === inner) return true;
  return false;
}

function refOwnerStep(ref) {
  return ref.type === "list" ? ref.step || ref.owner : ref.block;
}

/** An emptied hook or compensate list leaves the step (an empty list there says nothing). */
function dropIfEmpty(owner, key) {
  if (OPTIONAL_KEYS.has(key) && Array.isArray(owner[key]) && !owner[key].length) delete owner[key];
}

/** Take `step` out of the sequence `ref` names (an emptied one-step branch disappears). */
export function removeFrom(ref, step) {
  if (ref.type === "branch" && !isGroupBranch(ref.item)) {
    const lanes = ref.block.parallel;
    lanes.splice(lanes.indexOf(ref.item), 1);
    return;
  }
  const seq = seqOf(ref);
  const at = seq.indexOf(step);
  if (at >= 0) seq.splice(at, 1);
  if (ref.type === "list") dropIfEmpty(ref.owner, ref.key);
}

/** Put `step` at `index` of the sequence `ref` names; a one-step branch becomes a group. */
export function insertInto(workflow, ref, index, step) {
  if (ref.type === "newbranch") {
    ref.block.parallel = ref.block.parallel || [];
    ref.block.parallel.push(step);
    return;
  }
  if (ref.type === "branch" && !isGroupBranch(ref.item)) {
    const lanes = ref.block.parallel;
    const lane = {id: freshId(workflow, "branch"), steps: [ref.item]};
    lanes[lanes.indexOf(ref.item)] = lane;
    ref = {type: "list", owner: lane, key: "steps"};
  }
  const seq = seqOf(ref);
  seq.splice(Math.max(0, Math.min(index, seq.length)), 0, step);
}

/** Move `step` from one sequence to another; refuses to move a block into itself. */
export function move(workflow, from, to, index, step) {
  const target = refOwnerStep(to);
  if (target !== workflow && contains(step, target)) return false;
  if (to.type === "branch" && contains(step, to.item)) return false;
  removeFrom(from, step);
  insertInto(workflow, to, index, step);
  return true;
}

/** Remove a step wherever it is. */
export function deleteStep(workflow, step) {
  const holder = findHolder(workflow, step);
  if (!holder) return false;
  holder.list.splice(holder.list.indexOf(step), 1);
  dropIfEmpty(holder.ref.owner, holder.ref.key);
  return true;
}

/** The list that holds a step, the step (or workflow) that owns that list, and its ref. */
export function findHolder(workflow, step) {
  for (const lists of [listsOf(workflow, {workflow: true}), ...[...walkWorkflow(workflow)].map(({step: s}) => listsOf(s))]) {
    for (const {list, ref} of lists) {
      if (list.includes(step)) return {list, owner: ref.step || ref.owner, ref};
    }
  }
  return null;
}

/** The step whose `id` is `id`, or undefined. */
export function findById(workflow, id) {
  for (const {step} of walkWorkflow(workflow)) if (step.id === id) return step;
  return undefined;
}

/** The ids a finished step leaves visible after it: its own, and a group's or parallel's inner work. */
function visibleAfter(step, out) {
  if (!step || typeof step !== "object") return;
  if (step.id) out.push(step.id);
  const kind = kindOf(step);
  if (kind === "parallel") for (const branch of step.parallel || []) visibleAfter(branch, out);
  if (kind === "group") for (const inner of step.steps || []) visibleAfter(inner, out);
}

const HOOK_NAMES = ["error.step", "error.message", "run.status"];

/**
 * The names `target` may reference as `${name}` (FORMAT.md): the steps that finish before it,
 * and inside a hook `error` and `run`, inside a compensation the step being undone, inside a
 * repeat `loop.index` (a foreach's item name comes from enclosingLoops).
 */
export function earlierIds(workflow, target) {
  const out = [];
  const visitList = (steps) => {
    for (const step of steps || []) {
      if (contains(step, target)) {
        if (step !== target) visitStep(step);
        return true;
      }
      visibleAfter(step, out);
    }
    return false;
  };
  const visitLists = (owner, lists) => {
    for (const {role, list} of lists) {
      if (!list.some((s) => contains(s, target))) continue;
      if (role === "parallel") {
        const branch = list.find((s) => contains(s, target));
        if (branch !== target) visitStep(branch);
      } else if (role === "on_failure" || role === "finally") {
        for (const inner of owner.steps || owner.parallel || []) visibleAfter(inner, out);
        out.push(...HOOK_NAMES);
        visitList(list);
      } else if (role === "compensate") {
        if (owner.id) out.push(owner.id);
        visitList(list);
      } else {
        if (isRepeat(owner)) out.push("loop.index");
        visitList(list);
      }
      return;
    }
  };
  const visitStep = (step) => visitLists(step, listsOf(step));
  visitLists(workflow, listsOf(workflow, {workflow: true}));
  return [...new Set(out)];
}

/** True when `target` lies in a step's compensate (whose steps cannot have their own). */
export function inCompensation(workflow, target) {
  for (const {step} of walkWorkflow(workflow)) {
    if (Array.isArray(step.compensate) && step.compensate.some((c) => contains(c, target))) return true;
  }
  return false;
}

/** The foreach blocks that enclose `target`, innermost last. */
export function enclosingLoops(workflow, target) {
  const loops = [];
  for (const {step} of walkWorkflow(workflow)) {
    if (kindOf(step) === "foreach" && step !== target && contains(step, target)) loops.push(step);
  }
  return loops;
}
