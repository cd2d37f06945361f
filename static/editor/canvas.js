// The editable canvas: the shared flow drawing plus drag and drop (SortableJS), selection,
// Delete, Alt+arrows to move (into and out of bodies and branches), and validation errors marked on the steps.
import Sortable from "../vendor/sortable.esm.js";
import {redrawCard, renderFlow} from "../flow/render.js";
import {trackEdges} from "../flow/edges.js";
import {openLists} from "../flow/constructs.js";
import {freshCase} from "../flow/tree.js";

/**
 * handlers: onMove(fromRef, toRef, index, step), onSelect(step|null), onDelete(step), onEdit() (the
 * canvas edited the model in place: "+ case", "+ default").
 * The model is re-rendered by the caller after each change (render()).
 */
export function mountCanvas(root, handlers) {
  let ctx = {cards: new Map(), refs: new Map(), byPath: new Map(), byYamlPath: new Map()};
  let sortables = [];
  let selectedId = null;
  let selected = null;
  let issues = [];
  let dragging = false;
  let workflow = null;  // the model drawn last (an unfolded lane draws it again)
  let target = null;  // an empty list clicked: where the palette's Enter adds a step
  let origin = null;  // the list a dragged card came from, and the spacer that keeps its place
  // never move things under the pointer during a drag: marks wait for the drop
  document.addEventListener("wf:drag-start", () => { dragging = true; document.body.classList.add("dragging"); });
  document.addEventListener("wf:drag-end", () => {
    dragging = false;
    document.body.classList.remove("dragging");
    paintIssues();
  });

  const stepOf = (node) => ctx.cards.get(node?.closest?.(".card"));

  function select(step, focus = false) {
    selected = step || null;
    selectedId = step ? step.id : null;
    for (const [node, s] of ctx.cards) {
      const on = s === step;
      node.classList.toggle("selected", on);
      node.setAttribute("aria-current", on ? "true" : "false");
      if (on && focus) node.focus();
    }
    handlers.onSelect(step || null);
  }

  function render(model) {
    workflow = model;
    const hadFocus = root.contains(document.activeElement) ? stepOf(document.activeElement)?.id : null;
    sortables.forEach((s) => s.destroy());
    ctx = renderFlow(root, workflow, {editable: true});
    sortables = [...ctx.refs.keys()].map((list) => Sortable.create(list, {
      group: "steps", draggable: ".card", forceFallback: true, fallbackOnBody: true, swapThreshold: 0.65,
      filter: "button, input, textarea, select", preventOnFilter: false, ghostClass: "drop-ghost",
      chosenClass: "drag-chosen", emptyInsertThreshold: 12,
      onStart(evt) {
        origin = {list: evt.from, next: evt.item.nextElementSibling, height: evt.item.getBoundingClientRect().height, spacer: null};
        document.dispatchEvent(new CustomEvent("wf:drag-start"));
      },
      onChange: (evt) => keepOrigin(evt.item),
      onEnd(evt) {
        origin?.spacer?.remove();
        origin = null;
        document.dispatchEvent(new CustomEvent("wf:drag-end"));
        if (evt.from === evt.to && evt.oldIndex === evt.newIndex) return;
        const step = ctx.cards.get(evt.item);
        const from = ctx.refs.get(evt.from);
        const to = ctx.refs.get(evt.to);
        const index = evt.newDraggableIndex ?? evt.newIndex;
        // Sortable has moved the DOM; the model is the truth, so redraw from it afterwards
        setTimeout(() => handlers.onMove(from, to, index, step), 0);
      },
    }));
    let again = null;
    for (const [node, s] of ctx.cards) {
      if (s === selected || (!again && selectedId !== null && s.id === selectedId)) again = s;
      if (hadFocus && s.id === hadFocus) node.focus();
    }
    select(again);
    paintIssues();
  }

  /**
   * While a dragged card is out of its list, a spacer keeps its place: otherwise everything
   * below it moves up, and a block's empty body under the pointer moved away from it (the
   * card landed after the block instead of in it).
   */
  function keepOrigin(item) {
    if (!origin) return;
    const away = item.parentElement !== origin.list;
    if (away && !origin.spacer) {
      const spacer = document.createElement("div");
      spacer.className = "drag-origin";
      spacer.setAttribute("aria-hidden", "true");
      spacer.style.height = `${origin.height}px`;
      origin.list.insertBefore(spacer, origin.next?.parentElement === origin.list ? origin.next : null);
      origin.spacer = spacer;
    } else if (!away && origin.spacer) {
      origin.spacer.remove();
      origin.spacer = null;
    }
  }

  function paintIssues() {
    if (dragging) return;
    for (const node of root.querySelectorAll(".has-error")) {
      node.classList.remove("has-error");
      node.removeAttribute("title");
      node.querySelector(":scope > .card-error")?.remove();
    }
    const keys = [...ctx.byYamlPath.keys()].sort((a, b) => b.length - a.length);
    for (const issue of issues) {
      const key = keys.find((k) => issue.path === k || issue.path?.startsWith(`${k}.`) || issue.path?.startsWith(`${k}[`));
      const node = key && ctx.byYamlPath.get(key);
      if (!node) continue;
      node.classList.add("has-error");
      node.title = [node.title, issue.message].filter(Boolean).join("\n");
      if (!node.querySelector(":scope > .card-error")) {
        const note = document.createElement("div");
        note.className = "card-error";
        note.dataset.testid = "card-error";
        node.append(note);
      }
      node.querySelector(":scope > .card-error").textContent = node.title;
    }
  }

  /** The buttons the drawing offers for the constructs: add a case or a default, unfold a lane. */
  function flowAction(button) {
    const step = stepOf(button);
    const action = button.dataset.flowAction;
    if (action === "open-list") {
      openLists(root).add(button.dataset.openKey);
      render(workflow);
      // the new lane is where the palette's Enter adds a step
      const list = [...ctx.refs.keys()].find((l) => {
        const ref = ctx.refs.get(l);
        return ref.type === "list" && `${ref.owner === workflow ? "" : ref.owner.id}|${ref.key}` === button.dataset.openKey;
      });
      if (list) markTarget(list);
      return;
    }
    if (!step) return;
    if (action === "add-case") {
      step.cases = step.cases && typeof step.cases === "object" && !Array.isArray(step.cases) ? step.cases : {};
      step.cases[freshCase(step)] = [];
    } else if (action === "add-default") {
      step.default = [];
    } else return;
    select(step);
    handlers.onEdit();
  }

  function markTarget(list) {
    root.querySelector(".seq-target")?.classList.remove("seq-target");
    target = list && ctx.refs.get(list) ? list : null;
    target?.classList.add("seq-target");
  }

  root.addEventListener("click", (e) => {
    const button = e.target.closest("[data-flow-action]");
    if (button) return flowAction(button);
    if (e.target.closest(".card-delete")) {
      const step = stepOf(e.target);
      if (step) handlers.onDelete(step);
      return;
    }
    if (e.target.closest("button")) return;  // a fold toggle: the drawing handles it
    const step = stepOf(e.target);
    const list = e.target.closest(".seq");
    if (list && ctx.refs.get(list) && !list.querySelector(":scope > .card") && ctx.cards.get(list.closest(".card")) === step) {
      // an empty list (a case, a lane, a body): the palette's Enter adds there
      markTarget(list);
      select(step || null);
      return;
    }
    markTarget(null);
    select(step || null);  // empty canvas: back to the workflow's own properties
  });
  root.addEventListener("keydown", (e) => {
    const node = e.target.closest?.(".card");
    if (!node || e.target !== node) return;
    const step = ctx.cards.get(node);
    if (e.key === "Delete" || e.key === "Backspace") {
      e.preventDefault();
      handlers.onDelete(step);
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      select(step, true);
    } else if (e.altKey && (e.key === "ArrowLeft" || e.key === "ArrowRight")) {
      // to the branch beside, or (right of the last one) into a new branch
      const lane = node.parentElement.parentElement;
      if (!lane?.classList.contains("lane")) return;
      e.preventDefault();
      const beside = e.key === "ArrowLeft" ? lane.previousElementSibling : lane.nextElementSibling;
      const list = beside?.querySelector(":scope > .seq");
      const from = ctx.refs.get(node.parentElement);
      const to = list && ctx.refs.get(list);
      if (from && to) {
        select(step);
        handlers.onMove(from, to, list.querySelectorAll(":scope > .card").length, step);
      }
    } else if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      const target = slotBeside(node, e.key === "ArrowUp" ? -1 : 1);
      const from = ctx.refs.get(node.parentElement);
      if (from && target) {
        select(step);
        handlers.onMove(from, target.ref, target.index, step);
      }
    }
  });

  /**
   * Where Alt+↑/↓ takes a card: past its neighbour, into the body of a neighbouring foreach or
   * group (at the near end), or out of the body or branch it ends (before or after that block).
   */
  function slotBeside(node, dir) {
    const list = node.parentElement;
    const cards = [...list.children];
    const at = cards.indexOf(node);
    const neighbour = cards[at + dir];
    if (neighbour) {
      const body = neighbour.querySelector(":scope > .seq, :scope > .repeat-frame > .seq");
      if (body && ctx.refs.get(body)) return {ref: ctx.refs.get(body), index: dir > 0 ? 0 : body.children.length};
      return {ref: ctx.refs.get(list), index: at + dir};
    }
    const block = list.closest(".card");  // the foreach, group or parallel around the list
    const outer = block?.parentElement;
    if (!outer || !ctx.refs.get(outer)) return null;
    const index = [...outer.children].indexOf(block);
    return {ref: ctx.refs.get(outer), index: dir > 0 ? index + 1 : index};
  }

  /** Redraw just the card of `step` (its properties changed); false when a full render is needed. */
  function refresh(step) {
    const node = [...ctx.cards].find(([, s]) => s === step)?.[0];
    const fresh = node && redrawCard(ctx, node, step);
    if (!fresh) return false;
    if (selected === step) {
      selectedId = step.id;
      fresh.classList.add("selected");
      fresh.setAttribute("aria-current", "true");
    }
    if (root.classList.contains("has-edges") || fresh.dataset.needs) trackEdges(root);
    paintIssues();
    return true;
  }

  return {
    render,
    refresh,
    select,
    /** The sequence a DOM list stands for (palette drops). */
    refOf: (list) => ctx.refs.get(list),
    /** Where a new step goes when added with the keyboard: after the selection, or at the end. */
    insertionPoint() {
      if (target?.isConnected && ctx.refs.get(target)) {
        const point = {ref: ctx.refs.get(target), index: target.querySelectorAll(":scope > .card").length};
        markTarget(null);
        return point;
      }
      for (const [node, s] of ctx.cards) {
        if (s.id === selectedId && ctx.refs.get(node.parentElement)) {
          return {ref: ctx.refs.get(node.parentElement), index: [...node.parentElement.children].indexOf(node) + 1};
        }
      }
      const top = root.querySelector(".seq-root");
      return {ref: ctx.refs.get(top), index: top.children.length};
    },
    /** Mark the steps that validation found problems in (message on hover). */
    markIssues(next) {
      issues = next;
      paintIssues();
    },
  };
}
