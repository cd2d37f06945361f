// The workflow model as the YAML gives it, and the edits the canvas makes to it.
// Sequences are named by "refs" that hold objects, not indexes, so an edit that shifts
// indexes (a step moved out of a list above its target) never aims at the wrong place.

/** @typedef {{[key: string]: any}} Step */
/** @typedef {{type: "list", owner: any, key: string} | {type: "branch", block: Step, item: Step} | {type: "newbranch", block: Step}} SeqRef */

export const BLOCK_KEYS = ["parallel", "foreach", "steps"];

/** The kind of a step: action, parallel, foreach or group. */
export function kindOf(step) {
  if (!step || typeof step !== "object") return "invalid";
  if ("uses" in step) return "action";
  if ("parallel" in step) return "parallel";
  if ("foreach" in step) return "foreach";
  if ("steps" in step) return "group";
  return "invalid";
}

/** True when a parallel branch is a sequence (a group) rather than one step. */
export function isGroupBranch(item) {
  return kindOf(item) === "group";
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

/** Every step of the workflow, depth first, with its parent step (null at the top). */
export function* walk(steps, parent = null) {
  for (const step of steps || []) {
    if (!step || typeof step !== "object") continue;
    yield {step, parent};
    const kind = kindOf(step);
    const children = kind === "parallel" ? step.parallel : (kind === "foreach" || kind === "group") ? step.steps : null;
    if (Array.isArray(children)) yield* walk(children, step);
  }
}

/** All step ids in use. */
export function idsOf(workflow) {
  return new Set([...walk(workflow.steps)].map(({step}) => step.id).filter(Boolean));
}

/** A fresh id from a base name (`http` -> `http_2`), unique in the workflow. */
export function freshId(workflow, base) {
  const ids = idsOf(workflow);
  const stem = String(base || "step").replace(/[^a-zA-Z0-9_]/g, "_").replace(/^(?=[0-9])/, "s_");
  if (!ids.has(stem)) return stem;
  for (let n = 2; ; n++) if (!ids.has(`${stem}_${n}`)) return `${stem}_${n}`;
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
  return ref.type === "list" ? ref.owner : ref.block;
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
  return true;
}

/** The list that holds a step and the step (or workflow) that owns that list. */
export function findHolder(workflow, step) {
  if ((workflow.steps || []).includes(step)) return {list: workflow.steps, owner: workflow};
  for (const {step: s} of walk(workflow.steps)) {
    for (const key of BLOCK_KEYS) {
      if (Array.isArray(s[key]) && s[key].includes(step)) return {list: s[key], owner: s};
    }
  }
  return null;
}

/** The step whose `id` is `id`, or undefined. */
export function findById(workflow, id) {
  for (const {step} of walk(workflow.steps)) if (step.id === id) return step;
  return undefined;
}

/** The ids of the steps that finish before `target` starts (offered as `${id.` references). */
export function earlierIds(workflow, target) {
  const out = [];
  const visit = (steps) => {
    for (const step of steps || []) {
      if (contains(step, target)) {
        const kind = kindOf(step);
        if (step !== target && kind !== "parallel") visit(kind === "foreach" || kind === "group" ? step.steps : []);
        if (step !== target && kind === "parallel") {
          for (const lane of step.parallel || []) if (contains(lane, target)) visit(isGroupBranch(lane) ? lane.steps : []);
        }
        return true;
      }
      if (step && step.id) out.push(step.id);
    }
    return false;
  };
  visit(workflow.steps);
  return out;
}

/** The foreach blocks that enclose `target`, innermost last. */
export function enclosingLoops(workflow, target) {
  const loops = [];
  for (const {step} of walk(workflow.steps)) {
    if (kindOf(step) === "foreach" && step !== target && contains(step, target)) loops.push(step);
  }
  return loops;
}
