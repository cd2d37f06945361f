// A step's `needs` drawn as arrows beside the flow, from each step it waits for to the step
// itself (the badge on the card says the same in words). Redrawn when the flow's layout changes.
const SVG = "http://www.w3.org/2000/svg";
const observers = new WeakMap();  // container -> its ResizeObserver

/** The card of the step `id` that `card` waits for: in its own list or an enclosing one. */
function neededCard(card, id) {
  for (let list = card.parentElement; list; list = list.parentElement?.closest(".seq")) {
    for (const other of list.children) {
      if (other !== card && other.classList.contains("card") && other.dataset.id === id) return other;
    }
  }
  return null;
}

function svgElement(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function overlay(container) {
  let svg = container.querySelector(":scope > svg.edges");
  if (!svg) {
    svg = svgElement("svg", {class: "edges", "aria-hidden": "true", "data-testid": "edges"});
    const marker = svgElement("marker", {id: "edge-arrow", viewBox: "0 0 8 8", refX: 7, refY: 4, markerWidth: 7,
      markerHeight: 7, orient: "auto-start-reverse"});
    marker.append(svgElement("path", {d: "M0 0 L8 4 L0 8 z"}));
    const defs = svgElement("defs", {});
    defs.append(marker);
    svg.append(defs);
    container.append(svg);
  }
  return svg;
}

/** The arrows of `container`'s flow, as they lie now; returns the pairs [needed, waiting] drawn. */
export function drawEdges(container) {
  const waiting = [...container.querySelectorAll(".card[data-needs]")];
  const pairs = waiting.flatMap((card) => card.dataset.needs.split(" ")
    .map((id) => [neededCard(card, id), card]).filter(([from]) => from));
  container.classList.toggle("has-edges", pairs.length > 0);
  if (!pairs.length) {
    container.querySelector(":scope > svg.edges")?.remove();
    return pairs;
  }
  const svg = overlay(container);
  const box = container.getBoundingClientRect();
  const dx = container.scrollLeft - box.left - container.clientLeft;
  const dy = container.scrollTop - box.top - container.clientTop;
  const paths = pairs.flatMap(([from, to]) => {
    const a = from.getBoundingClientRect();
    const b = to.getBoundingClientRect();
    if (!a.width || !b.width) return [];  // not laid out (an off-screen lane skips its contents)
    const x1 = a.right + dx, y1 = a.top + dy + Math.min(a.height / 2, 16);
    const x2 = b.right + dx, y2 = b.top + dy + Math.min(b.height / 2, 16);
    const bend = 12 + Math.min(36, Math.abs(y2 - y1) / 4);  // longer arrows bend wider: they do not overlap
    return svgElement("path", {class: "edge", "data-from": from.dataset.id, "data-to": to.dataset.id,
      d: `M${x1} ${y1} C${x1 + bend} ${y1} ${x2 + bend} ${y2} ${x2 + 1} ${y2}`, "marker-end": "url(#edge-arrow)"});
  });
  svg.replaceChildren(svg.querySelector("defs"), ...paths);
  return pairs;
}

/** Draw the arrows of a freshly rendered flow, and again whenever the cards involved change size. */
export function trackEdges(container) {
  observers.get(container)?.disconnect();
  const pairs = drawEdges(container);
  if (!pairs.length || typeof ResizeObserver === "undefined") return;
  let queued = false;
  const observer = new ResizeObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; drawEdges(container); });
  });
  observer.observe(container.firstElementChild);
  for (const card of new Set(pairs.flat())) observer.observe(card);
  observers.set(container, observer);
}
