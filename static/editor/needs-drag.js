// Drag from the handle under a card to another card: the second step waits for the first
// (a `needs` entry, written through the editor's model like every canvas edit). One handle,
// moved to the card under the pointer, rather than one per card. The keyboard's way to the
// same edit is the `needs` field of the properties panel.
import {findById, findHolder} from "../flow/tree.js";

/** What each step of `list` waits for, by index, as the engine's planner reads the list:
 * its `needs` when it has them, else the step before it. */
export function depsOf(list) {
  const index = new Map();
  list.forEach((step, i) => { if (step?.id !== undefined && !index.has(step.id)) index.set(step.id, i); });
  return list.map((step, i) => (Array.isArray(step?.needs)
    ? [...new Set(step.needs.map((id) => index.get(id)).filter((j) => j !== undefined && j !== i))]
    : (i ? [i - 1] : [])));
}

/** The chain by which step `from` already waits for step `to` (indexes, from first), or null. */
function chain(deps, from, to) {
  const seen = new Map([[from, null]]);
  const queue = [from];
  while (queue.length) {
    const at = queue.shift();
    if (at === to) {
      const path = [];
      for (let n = to; n !== null; n = seen.get(n)) path.push(n);
      return path.reverse();
    }
    for (const next of deps[at]) if (!seen.has(next)) { seen.set(next, at); queue.push(next); }
  }
  return null;
}

/** A stable topological order (Kahn's, the smallest index first): the list's own order
 * wherever the dependencies allow it; null if they loop. */
function ordered(deps) {
  const count = deps.map((d) => d.length);
  const dependents = deps.map(() => []);
  deps.forEach((d, i) => d.forEach((j) => dependents[j].push(i)));
  const ready = [];
  const add = (i) => {
    let lo = 0;
    let hi = ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ready[mid] < i) lo = mid + 1;
      else hi = mid;
    }
    ready.splice(lo, 0, i);
  };
  count.forEach((n, i) => { if (!n) ready.push(i); });
  const out = [];
  while (ready.length) {
    const i = ready.shift();
    out.push(i);
    for (const k of dependents[i]) if (--count[k] === 0) add(k);
  }
  return out.length === deps.length ? out : null;
}

/**
 * Make `to` wait for `from` (two steps of `list`), editing the list in place.
 * A step without `needs` keeps waiting for the step before it, unless `from` comes before that
 * step already: then the drag means "wait for this one instead" (how a fan-out is drawn).
 * Where `from` comes after `to`, the list is reordered (needs name earlier steps only) and steps
 * that waited for the one before them keep waiting for it, now by name.
 * @returns {{ok: boolean, message: string}}
 */
export function addNeed(list, from, to) {
  const a = list.indexOf(from);
  const b = list.indexOf(to);
  const name = (i) => `'${list[i].id}'`;
  const deps = depsOf(list);
  if (deps[b].includes(a)) return {ok: false, message: `${name(b)} already waits for ${name(a)}.`};
  const loop = chain(deps, a, b);
  if (loop) {
    const path = [...loop.reverse(), b].map((i) => list[i].id).join(" → ");
    return {ok: false, message: `Not added: ${name(b)} waiting for ${name(a)} would make a cycle (${path}): ` +
      `${name(a)} already waits for ${name(b)}${loop.length > 2 ? " through other steps" : ""}.`};
  }
  let message = `${name(b)} now waits for ${name(a)}`;
  if (Array.isArray(to.needs)) {
    to.needs = [...to.needs, from.id];
  } else if (b > 0 && chain(deps, b - 1, a)) {
    to.needs = [from.id];
    message += ` instead of ${name(b - 1)}, the step before it`;
  } else {
    to.needs = [...deps[b].map((i) => list[i].id), from.id];
  }
  if (a > b) {
    const next = depsOf(list);
    deps.forEach((d, i) => { if (!Array.isArray(list[i].needs)) next[i] = d; });  // still the step before
    const order = ordered(next);
    if (!order) return {ok: false, message: "Not added: the steps would wait for each other in a cycle."};
    order.forEach((i, at) => {
      const step = list[i];
      const before = at ? order[at - 1] : null;
      const was = deps[i];
      if (!Array.isArray(step.needs) && !(was.length === 1 ? before === was[0] : before === null)) {
        step.needs = was.map((j) => list[j].id);
      }
    });
    list.splice(0, list.length, ...order.map((i) => list[i]));
    message += `; '${to.id}' moved below '${from.id}' in the list`;
  }
  return {ok: true, message: `${message}.`};
}

/** Whether a needs may join the steps of two cards; the list they share, or a message why not. */
function sameList(workflow, fromCard, toCard) {
  const from = findById(workflow, fromCard.dataset.id);
  const to = findById(workflow, toCard.dataset.id);
  if (!from || !to) return {message: "Not added: give both steps an id first."};
  const holder = findHolder(workflow, to);
  if (!holder || !holder.list.includes(from)) {
    return {message: `Not added: '${from.id}' and '${to.id}' are in different lists, and needs join steps of one ` +
      "list. Join the blocks around them instead."};
  }
  if (holder.ref?.key === "parallel") {
    return {message: `Not added: '${from.id}' and '${to.id}' are branches of '${holder.owner.id}', which run side ` +
      "by side; make a branch a group of steps to order steps inside it."};
  }
  return {list: holder.list, from, to};
}

/**
 * Mount the handle on the editor's canvas. `model()` gives the workflow, `changed()` redraws
 * it and writes the YAML, `say(text)` tells the person what happened.
 */
export function mountNeedsDrag(canvas, {model, changed, say}) {
  const handle = document.createElement("div");
  handle.className = "needs-handle";
  handle.dataset.testid = "needs-handle";
  handle.setAttribute("aria-hidden", "true");
  handle.title = "Drag to another step: that step waits for this one (needs)";
  let drag = null;

  canvas.addEventListener("pointerover", (e) => {
    if (drag || document.body.classList.contains("dragging")) return;
    const card = e.target.closest?.(".card");
    if (!card || card.contains(handle) && handle.parentElement === card) return;
    handle.parentElement?.classList.remove("has-handle");
    card.classList.add("has-handle");
    card.append(handle);
  });

  const stop = (e) => e.stopPropagation();  // not a card drag (SortableJS), not a pan, not a selection
  for (const type of ["mousedown", "touchstart", "click"]) handle.addEventListener(type, stop);

  function targetAt(x, y, from) {
    const card = document.elementFromPoint(x, y)?.closest(".card");
    return card && canvas.contains(card) && card !== from ? card : null;
  }

  handle.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.stopPropagation();
    e.preventDefault();
    const from = handle.parentElement;
    const box = handle.getBoundingClientRect();
    const line = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    line.setAttribute("class", "needs-line");
    line.setAttribute("aria-hidden", "true");
    line.innerHTML = `<line x1="${box.left + box.width / 2}" y1="${box.top + box.height / 2}" x2="${e.clientX}" y2="${e.clientY}"/>`;
    document.body.append(line);
    drag = {from, line, over: null, id: e.pointerId};
    handle.setPointerCapture(e.pointerId);
  });
  handle.addEventListener("pointermove", (e) => {
    if (!drag || e.pointerId !== drag.id) return;
    const l = drag.line.firstElementChild;
    l.setAttribute("x2", e.clientX);
    l.setAttribute("y2", e.clientY);
    const over = targetAt(e.clientX, e.clientY, drag.from);
    if (over === drag.over) return;
    drag.over?.classList.remove("needs-target", "needs-refused");
    drag.over = over;
    if (over) {
      const check = sameList(model(), drag.from, over);
      over.classList.add(check.list ? "needs-target" : "needs-refused");
    }
  });
  const end = (e, cancelled) => {
    if (!drag || e.pointerId !== drag.id) return;
    const {from, line, over} = drag;
    drag = null;
    line.remove();
    over?.classList.remove("needs-target", "needs-refused");
    const to = !cancelled && targetAt(e.clientX, e.clientY, from);
    if (to) connect(from, to);
  };
  handle.addEventListener("pointerup", (e) => end(e, false));
  handle.addEventListener("pointercancel", (e) => end(e, true));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && drag) {
      drag.line.remove();
      drag.over?.classList.remove("needs-target", "needs-refused");
      handle.releasePointerCapture(drag.id);
      drag = null;
    }
  });

  /** Add the needs the drag drew, or say why not. */
  function connect(fromCard, toCard) {
    const check = sameList(model(), fromCard, toCard);
    if (!check.list) return say(check.message);
    const result = addNeed(check.list, check.from, check.to);
    if (result.ok) changed();
    say(result.message);
  }

  return {connect};
}
