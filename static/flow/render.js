// Draws a workflow's steps as the vertical flow the editor and the monitor share: cards for
// actions, framed blocks for parallel (branches side by side), foreach, group, repeat and
// switch (cases side by side), the hooks of blocks and of the workflow, compensations.
import {kindOf, isGroupBranch, isRepeat} from "./tree.js";
import {trackEdges} from "./edges.js";
import {el} from "./dom.js";
import {icon} from "./icons.js";
import {approvalBody, compensateFold, hookLanes, openLists, repeatFrame, switchBody} from "./constructs.js";

const ICONS = {action: "▸", parallel: "∥", foreach: "⟳", group: "▤", invalid: "?"};
const SVG_ICONS = {switch: "switch", repeat: "repeat", approval: "approval"};
const SUMMARY_KEYS = ["url", "query", "prompt", "function", "workflow", "message", "seconds", "op"];
const HOLDS_HOOKS = new Set(["parallel", "foreach", "group"]);

/** One line that says what a step does: its main parameter, cut short. */
export function summaryOf(step) {
  const w = step.with;
  if (!w || typeof w !== "object") return "";
  const key = SUMMARY_KEYS.find((k) => k in w) || Object.keys(w)[0];
  if (key === undefined) return "";
  const value = typeof w[key] === "string" ? w[key] : JSON.stringify(w[key]);
  const text = `${key}: ${value ?? ""}`.replace(/\s+/g, " ");
  return text.length > 70 ? `${text.slice(0, 69)}…` : text;
}

function badges(step) {
  const out = el("span", {class: "badges"});
  const add = (text, title, ...before) => out.append(el("span", {class: "badge", title}, ...before, text));
  if (step.if !== undefined) add("if", `if: ${step.if}`);
  if (step.retry !== undefined) add(`retry ${typeof step.retry === "object" ? step.retry.attempts ?? "" : step.retry}`.trim(), "retries on failure");
  if (step.timeout !== undefined) add(` ${step.timeout}`, `timeout: ${step.timeout}`, icon("clock", {size: 11}));
  if (step.on_error !== undefined) add(`on_error: ${step.on_error}`, "what a failure does");
  if (Array.isArray(step.needs)) {
    const b = step.needs.length
      ? el("span", {class: "badge needs", title: `waits for ${step.needs.join(", ")}`, text: `⇠ ${step.needs.join(", ")}`})
      : el("span", {class: "badge needs", title: "needs: [] — waits for nothing, starts at once", text: "⇠ none"});
    out.append(b);
  }
  return out;
}

/**
 * Render the workflow's steps (and its on_failure / finally lanes) into `container`.
 * @returns {{cards: Map<Element, object>, refs: Map<Element, object>, byPath: Map<string, Element>, byYamlPath: Map<string, Element>}}
 */
export function renderFlow(container, workflow, {editable = false} = {}) {
  const ctx = {editable, cards: new Map(), refs: new Map(), byPath: new Map(), byYamlPath: new Map(), open: openLists(container)};
  ctx.seq = (ref, steps, parentPath, yamlBase, label, role) => seqElement(ctx, ref, steps, parentPath, yamlBase, label, role);
  const root = seqElement(ctx, {type: "list", owner: workflow, key: "steps"}, workflow.steps || [], "", "steps");
  root.classList.add("seq-root");
  root.setAttribute("aria-label", "Workflow steps");
  const hooks = hookLanes(ctx, workflow, "", "", {workflow: true});
  container.replaceChildren(root, ...(hooks ? [hooks] : []));
  trackEdges(container);
  return ctx;
}

/**
 * Draw one action step's card again in place (an edit of its properties), keeping `ctx` right.
 * Returns the new card, or null where a full render is needed (a block, a card holding lists, or a card not drawn).
 */
export function redrawCard(ctx, node, step) {
  if (kindOf(step) !== "action" || !node.isConnected || node.querySelector(".seq")) return null;
  const oldPath = node.dataset.path;
  const cut = oldPath.lastIndexOf(".");
  const fresh = card(ctx, step, cut < 0 ? "" : oldPath.slice(0, cut), node.dataset.yamlPath);
  if (fresh.querySelector(".seq")) return null;
  ctx.cards.delete(node);
  if (ctx.byPath.get(oldPath) === node) ctx.byPath.delete(oldPath);
  node.replaceWith(fresh);
  return fresh;
}

/** A list of steps: `role` says which (steps, branch, case, default, on_failure, finally, compensate). */
function seqElement(ctx, ref, steps, parentPath, yamlBase, label, role = "steps") {
  const list = el("div", {class: "seq", role: "list", "data-testid": "seq", "aria-label": label, "data-list": role});
  if (ctx.editable) list.dataset.empty = "Drop a step here";
  ctx.refs.set(list, ref);
  (Array.isArray(steps) ? steps : []).forEach((step, i) => list.append(card(ctx, step, parentPath, `${yamlBase}[${i}]`)));
  return list;
}

function card(ctx, step, parentPath, yamlPath) {
  const kind = kindOf(step);
  const approval = kind === "action" && step.uses === "approval";
  const repeat = isRepeat(step);
  const id = step && typeof step === "object" ? String(step.id ?? "") : "";
  const path = parentPath ? `${parentPath}.${id}` : id;
  const what = kind === "action" ? step.uses : repeat ? "repeat" : kind;
  const classes = ["card", `card-${kind}`, approval && "card-approval", repeat && "card-repeat"].filter(Boolean).join(" ");
  const node = el("div", {
    class: classes, role: "listitem", tabindex: 0, "data-testid": "card", "data-id": id,
    "data-path": path, "data-yaml-path": yamlPath, "data-kind": kind, "aria-label": `${id || "step"} (${what})`,
  });
  if (Array.isArray(step?.needs)) node.dataset.needs = step.needs.map(String).join(" ");  // even []: a graph
  ctx.cards.set(node, step);
  ctx.byPath.set(path, node);
  ctx.byYamlPath.set(yamlPath, node);
  const svg = SVG_ICONS[approval ? "approval" : repeat ? "repeat" : kind];
  const head = el("div", {class: "card-head"},
    svg ? el("span", {class: "icon", "aria-hidden": "true"}, icon(svg)) : el("span", {class: "icon", "aria-hidden": "true", text: ICONS[kind]}),
    el("span", {class: "card-id", text: id || "(no id)"}),
    el("span", {class: "card-uses", text: what}),
    step?.name ? el("span", {class: "card-name", text: step.name}) : null,
    badges(step || {}),
    el("span", {class: "card-status", "data-testid": "card-status"}));
  if (ctx.editable) head.append(el("button", {class: "card-delete", type: "button", "aria-label": `Delete ${id}`, title: "Delete (Del)", text: "×"}));
  node.append(head);
  if (approval) {
    node.append(approvalBody(step));
  } else if (kind === "action") {
    const summary = summaryOf(step);
    if (summary) node.append(el("div", {class: "card-summary", text: summary}));
  } else if (kind === "parallel") {
    node.append(lanes(ctx, step, path, yamlPath));
  } else if (kind === "foreach") {
    const conc = step.concurrency ? ` · ${step.concurrency} at a time` : "";
    node.append(el("div", {class: "foreach-head", text: `for each ${step.as || "item"} in ${step.foreach}${conc}`}));
    node.append(el("div", {class: "foreach-progress", "data-testid": "foreach-progress", hidden: true}));
    node.append(seqElement(ctx, {type: "list", owner: step, key: "steps"}, step.steps, path, `${yamlPath}.steps`, `Body of ${id}`));
  } else if (repeat) {
    node.append(repeatFrame(ctx, step, path, yamlPath));
  } else if (kind === "group") {
    node.append(seqElement(ctx, {type: "list", owner: step, key: "steps"}, step.steps, path, `${yamlPath}.steps`, `Steps of ${id}`));
  } else if (kind === "switch") {
    node.append(...switchBody(ctx, step, path, yamlPath));
  }
  if (HOLDS_HOOKS.has(kind)) {
    const hooks = hookLanes(ctx, step, path, yamlPath);
    if (hooks) node.append(hooks);
  }
  // a compensation's steps cannot have their own: none offered there (one written is still drawn)
  if (kind !== "invalid" && (Array.isArray(step.compensate) || !yamlPath.includes(".compensate["))) {
    const fold = compensateFold(ctx, step, path, yamlPath);
    if (fold) node.append(fold);
  }
  return node;
}

function lanes(ctx, block, path, yamlPath) {
  const row = el("div", {class: "lanes", "data-testid": "lanes"});
  (block.parallel || []).forEach((item, i) => {
    const itemPath = `${yamlPath}.parallel[${i}]`;
    const ref = {type: "branch", block, item};
    const group = isGroupBranch(item);
    const laneId = item && typeof item === "object" ? item.id : "";
    const lane = el("div", {class: "lane", "data-testid": "lane", "data-branch": laneId, "data-path": `${path}.${laneId}`},
      el("div", {class: "lane-head"}, el("span", {text: group ? laneId : `branch ${i + 1}`}),
        isRepeat(item) ? el("span", {class: "lane-repeat", "data-testid": "repeat-max", title: `repeat until ${item.repeat.until}`},
          icon("repeat"), ` at most ${item.repeat.max ?? "?"} passes`) : null,
        el("span", {class: "lane-progress", "data-testid": "lane-progress"})));
    let list;
    if (group) {
      list = seqElement(ctx, ref, item.steps, `${path}.${laneId}`, `${itemPath}.steps`, `Branch ${laneId}`, "branch");
      ctx.byYamlPath.set(itemPath, lane);
      ctx.byPath.set(`${path}.${laneId}`, lane);
      lane.dataset.yamlPath = itemPath;
    } else {
      list = el("div", {class: "seq", role: "list", "data-testid": "seq", "aria-label": `Branch ${i + 1}`, "data-list": "branch"});
      if (ctx.editable) list.dataset.empty = "Drop a step here";
      ctx.refs.set(list, ref);
      list.append(card(ctx, item, path, itemPath));
    }
    lane.append(list);
    if (group) {  // a branch of several steps is a group: it may have hooks
      const hooks = hookLanes(ctx, item, `${path}.${laneId}`, itemPath);
      if (hooks) lane.append(hooks);
    }
    row.append(lane);
  });
  if (ctx.editable) {
    const zone = el("div", {class: "seq seq-newbranch", role: "list", "data-testid": "new-branch",
      "aria-label": `New branch of ${block.id}`});
    zone.dataset.empty = "+ Drop here for a new branch";
    ctx.refs.set(zone, {type: "newbranch", block});
    row.append(el("div", {class: "lane lane-new"}, zone));
  }
  return row;
}
