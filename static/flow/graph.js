// Lays out the step lists that use `needs` as layered graphs (dagre): a step sits below the
// steps it waits for, independent steps side by side. The cards stay where renderFlow put
// them in the DOM (their order is the YAML's, which the editor's drag and drop and keyboard
// moves rely on); only their boxes are placed. Layouts are cached by graph shape and card
// sizes, so a redraw that changes neither (typing in the YAML) costs no layout at all.
// dagre takes ~1 ms a step, so a graph past SYNC_MAX steps is laid out in a worker
// (graph-worker.js): meanwhile its cards keep the places they had (new ones below).
import {graphlib, layout} from "../vendor/dagre.js";

const SPACING = {nodesep: 28, ranksep: 44, edgesep: 12, marginx: 10, marginy: 12};
const CACHE = new Map();  // shape key -> layout; the most recent ones only
const CACHE_SIZE = 64;
const SYNC_MAX = 60;
const lastBox = new Map();  // card path -> where it was last placed (the stand-in while a worker works)
const waiting = new Map();  // shape key -> callbacks for when the worker's layout is in
let worker;

/**
 * @typedef {{cards: Element[], edges: [number, number, boolean][]}} ListGraph
 * edges are [from index, to index, implicit]: implicit when a step without `needs` waits for
 * the step before it, as the engine's planner reads a list in which some steps declare `needs`.
 */

/** True when `seq` (a step list) has a step that declares `needs`, even `needs: []`. */
export function isDag(seq) {
  for (const child of seq.children) {
    if (child.classList.contains("card") && child.dataset.needs !== undefined) return true;
  }
  return false;
}

/** The cards of a needs list and the edges between them (needs naming other lists are not drawn). */
export function graphOf(seq) {
  const cards = [...seq.children].filter((c) => c.classList.contains("card") && !c.classList.contains("drop-ghost"));
  const index = new Map();
  cards.forEach((card, i) => { if (!index.has(card.dataset.id)) index.set(card.dataset.id, i); });
  const edges = [];
  cards.forEach((card, i) => {
    if (card.dataset.needs === undefined) {
      if (i) edges.push([i - 1, i, true]);
      return;
    }
    for (const id of new Set(card.dataset.needs.split(" ").filter(Boolean))) {
      const j = index.get(id);
      if (j !== undefined && j !== i) edges.push([j, i, false]);
    }
  });
  return {cards, edges};
}

/**
 * Steps that will likely share a rank (their longest path from a step that waits for nothing)
 * stay left to right in the list's order: dagre's own order minimises crossings only, and a
 * diamond's b and c would come out as c, b.
 */
function listOrder(count, edges) {
  const deps = Array.from({length: count}, () => []);
  for (const [a, b] of edges) if (a < b) deps[b].push(a);
  const rank = [];
  const last = new Map();
  const out = [];
  for (let i = 0; i < count; i++) {
    rank[i] = deps[i].reduce((r, j) => Math.max(r, rank[j] + 1), 0);
    if (last.has(rank[i])) out.push({left: String(last.get(rank[i])), right: String(i)});
    last.set(rank[i], i);
  }
  return out;
}

/** The layout of a graph of boxes `sizes` ([w, h]) and `edges` ([from, to]): dagre's, in plain data. */
export function compute(sizes, edges) {
  const g = new graphlib.Graph();
  // network simplex gives the tightest ranks; past 120 steps the cheaper tight tree keeps it fast
  g.setGraph({rankdir: "TB", rankalign: "top", ...SPACING, ranker: sizes.length > 120 ? "tight-tree" : "network-simplex"});
  g.setDefaultEdgeLabel(() => ({}));
  sizes.forEach(([width, height], i) => g.setNode(String(i), {width, height}));
  for (const [a, b] of edges) g.setEdge(String(a), String(b));
  layout(g, {constraints: listOrder(sizes.length, edges)});
  return {
    boxes: sizes.map((_, i) => {
      const n = g.node(String(i));
      return [Math.round(n.x - n.width / 2), Math.round(n.y - n.height / 2)];
    }),
    points: edges.map(([a, b]) => g.edge(String(a), String(b)).points.map((p) => [p.x, p.y])),
    width: Math.ceil(g.graph().width),
    height: Math.ceil(g.graph().height),
  };
}

function cached(key, make) {
  let hit = CACHE.get(key);
  if (hit) {
    CACHE.delete(key);  // most recent last
  } else {
    hit = make();
    if (CACHE.size >= CACHE_SIZE) CACHE.delete(CACHE.keys().next().value);
  }
  CACHE.set(key, hit);
  return hit;
}

/** The worker's layout of a big graph, `late()` called once it is in the cache. */
function inWorker(key, sizes, edges, late) {
  if (!worker) {
    worker = new Worker(new URL("./graph-worker.js", import.meta.url), {type: "module"});
    worker.addEventListener("message", ({data}) => {
      const callbacks = waiting.get(data.key) || [];
      waiting.delete(data.key);
      cached(data.key, () => data.result);
      for (const callback of new Set(callbacks)) callback();
    });
  }
  if (!waiting.has(key)) {
    waiting.set(key, []);
    worker.postMessage({key, sizes, edges});
  }
  if (late) waiting.get(key).push(late);
}

/** Where the cards stood last time (the new ones in a column below): shown until the layout is in. */
function standIn(graph, sizes) {
  let bottom = SPACING.marginy;
  const known = graph.cards.map((card, i) => {
    const box = lastBox.get(card.dataset.path);
    if (box) bottom = Math.max(bottom, box[1] + sizes[i][1] + SPACING.ranksep);
    return box;
  });
  const boxes = known.map((box, i) => {
    if (box) return box;
    const at = [SPACING.marginx, bottom];
    bottom += sizes[i][1] + SPACING.nodesep;
    return at;
  });
  const points = graph.edges.map(([a, b]) => [
    [boxes[a][0] + sizes[a][0] / 2, boxes[a][1] + sizes[a][1]], [boxes[b][0] + sizes[b][0] / 2, boxes[b][1]]]);
  const width = Math.max(...boxes.map(([x], i) => x + sizes[i][0])) + SPACING.marginx;
  const height = Math.max(...boxes.map(([, y], i) => y + sizes[i][1])) + SPACING.marginy;
  return {boxes, points, width, height};
}

/**
 * Place the cards of one needs list; returns its graph and the layout used. A big graph not
 * laid out before gets a stand-in, and `late()` runs when its layout is ready.
 */
export function placeList(seq, late = null) {
  const graph = graphOf(seq);
  seq.classList.add("dag");
  const sizes = graph.cards.map((card) => [card.offsetWidth, card.offsetHeight]);
  const key = `${sizes.map((s) => s.join("x")).join(",")}|${graph.edges.map((e) => `${e[0]}>${e[1]}`).join(",")}`;
  const started = performance.now();
  let result = CACHE.has(key) || sizes.length <= SYNC_MAX || typeof Worker === "undefined"
    ? cached(key, () => compute(sizes, graph.edges)) : null;
  if (!result) {
    inWorker(key, sizes, graph.edges, late);
    result = standIn(graph, sizes);
  }
  seq.classList.toggle("dag-pending", !CACHE.has(key));
  if (lastBox.size > 20000) lastBox.clear();
  graph.cards.forEach((card, i) => {
    const [x, y] = result.boxes[i];
    card.style.left = `${x}px`;
    card.style.top = `${y}px`;
    lastBox.set(card.dataset.path, [x, y]);
  });
  seq.style.width = `${result.width}px`;
  seq.style.height = `${result.height}px`;
  seq.classList.add("dag-placed");
  performance.measure("wf:layout", {start: started});  // bench/browser.py reads these
  return {graph, result};
}

/** Where `el`'s padding box starts in `container`'s (layout pixels: transforms left out). */
export function originIn(container, el) {
  let x = el.clientLeft;
  let y = el.clientTop;
  for (let node = el; node && node !== container;) {
    x += node.offsetLeft;
    y += node.offsetTop;
    const parent = node.offsetParent;
    if (!parent || parent === container) break;
    x += parent.clientLeft;
    y += parent.clientTop;
    node = parent;
  }
  return [x, y];
}

/** dagre's edge points as a smooth path (a uniform B-spline through them, as d3's curveBasis). */
export function curve(points) {
  const f = (n) => Math.round(n * 10) / 10;
  if (points.length < 3) return `M${points.map(([x, y]) => `${f(x)} ${f(y)}`).join(" L")}`;
  let [[x0, y0], [x1, y1]] = points;
  let d = `M${f(x0)} ${f(y0)} L${f((5 * x0 + x1) / 6)} ${f((5 * y0 + y1) / 6)}`;
  const bezier = (x, y) => {
    d += ` C${f((2 * x0 + x1) / 3)} ${f((2 * y0 + y1) / 3)} ${f((x0 + 2 * x1) / 3)} ${f((y0 + 2 * y1) / 3)} ${f((x0 + 4 * x1 + x) / 6)} ${f((y0 + 4 * y1 + y) / 6)}`;
  };
  for (const [x, y] of points.slice(2)) {
    bezier(x, y);
    [x0, y0, x1, y1] = [x1, y1, x, y];
  }
  bezier(x1, y1);
  return `${d} L${f(x1)} ${f(y1)}`;
}

/**
 * Lay out every needs list in `container`, innermost first (a block's size depends on the
 * graph inside it). Returns the placed lists; `late()` runs when a worker's layout comes in.
 */
export function layoutGraphs(container, late = null) {
  const lists = [...container.querySelectorAll(".seq")].filter(isDag).reverse();
  for (const seq of container.querySelectorAll(".seq.dag")) {
    if (!lists.includes(seq)) unplace(seq);
  }
  return lists.map((seq) => ({seq, ...placeList(seq, late)}));
}

function unplace(seq) {
  seq.classList.remove("dag", "dag-placed", "dag-pending");
  seq.style.removeProperty("width");
  seq.style.removeProperty("height");
  for (const card of seq.children) {
    card.style?.removeProperty("left");
    card.style?.removeProperty("top");
  }
}
