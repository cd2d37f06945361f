// The flow's post-pass, run after each drawing: lists that use `needs` are laid out as
// layered graphs (graph.js) and their edges drawn as SVG arrows in one overlay: purple for a
// `needs`, dashed grey where a step without `needs` waits for the step before it. Laid out
// and drawn again when a card involved changes size (an error note, a foreach's progress).
import {curve, layoutGraphs, originIn} from "./graph.js";

const SVG = "http://www.w3.org/2000/svg";
const observers = new WeakMap();  // container -> its ResizeObserver

function svgElement(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function marker(id) {
  const m = svgElement("marker", {id, viewBox: "0 0 8 8", refX: 7.5, refY: 4, markerWidth: 7, markerHeight: 7,
    orient: "auto-start-reverse", markerUnits: "userSpaceOnUse"});
  m.append(svgElement("path", {d: "M0 0 L8 4 L0 8 z"}));
  return m;
}

function overlay(container) {
  let svg = container.querySelector(":scope > svg.edges");
  if (!svg) {
    svg = svgElement("svg", {class: "edges", "aria-hidden": "true", "data-testid": "edges"});
    const defs = svgElement("defs", {});
    defs.append(marker("edge-arrow"), marker("edge-arrow-seq"));
    svg.append(defs);
    container.append(svg);
  }
  return svg;
}

/** Lay out the needs lists of `container` and draw their arrows; returns the lists drawn. */
export function drawEdges(container) {
  const started = performance.now();
  const placed = layoutGraphs(container, () => redraw(container));
  container.classList.toggle("has-edges", placed.length > 0);
  if (!placed.length) {
    container.querySelector(":scope > svg.edges")?.remove();
    return placed;
  }
  const svg = overlay(container);
  const groups = placed.map(({seq, graph, result}) => {
    const [x, y] = originIn(container, seq);
    const group = svgElement("g", {transform: `translate(${x} ${y})`});
    graph.edges.forEach(([a, b, implicit], i) => {
      const from = graph.cards[a];
      const to = graph.cards[b];
      group.append(svgElement("path", {class: implicit ? "edge-seq" : "edge", "data-from": from.dataset.id,
        "data-to": to.dataset.id, d: curve(result.points[i]),
        "marker-end": `url(#${implicit ? "edge-arrow-seq" : "edge-arrow"})`}));
    });
    return group;
  });
  svg.replaceChildren(svg.querySelector("defs"), ...groups);
  performance.measure("wf:graphs", {start: started});  // layout and arrows: bench/browser.py reads these
  return placed;
}

/** Lay out and draw again (a card changed size, a worker's layout came in) and say so. */
function redraw(container) {
  if (!container.isConnected) return;
  drawEdges(container);
  container.dispatchEvent(new CustomEvent("wf:flow-drawn", {bubbles: true}));
}

/**
 * Lay out and draw a freshly rendered flow, and again whenever a card of a needs list (or the
 * flow's width) changes size. Tells the page with a `wf:flow-drawn` event on the container.
 */
export function trackEdges(container) {
  observers.get(container)?.disconnect();
  observers.delete(container);
  const placed = drawEdges(container);
  container.dispatchEvent(new CustomEvent("wf:flow-drawn", {bubbles: true}));
  if (!placed.length || typeof ResizeObserver === "undefined") return;
  let queued = false;
  let first = true;
  const observer = new ResizeObserver(() => {
    if (first) { first = false; return; }  // the initial report of what was just laid out
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      redraw(container);
    });
  });
  if (container.firstElementChild) observer.observe(container.firstElementChild);
  for (const {graph} of placed) for (const card of graph.cards) observer.observe(card);
  observers.set(container, observer);
}
