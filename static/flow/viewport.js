// Pan and zoom for a flow (editor and monitor). The flow's element keeps its place in the DOM
// tree of the page and is wrapped once: an outer box that takes its place in the page's grid,
// a scroll box inside it (panning is native scrolling: the wheel, the keyboard, focus and the
// drag and drop's auto-scroll all keep working) and the flow itself scaled by a CSS transform
// (zooming re-lays out nothing). Drag on empty canvas pans; Ctrl/⌘+wheel (or a pinch) zooms
// around the pointer; the buttons zoom, reset and fit to the screen; a minimap past 30 steps.
import {mountMinimap} from "./minimap.js";

const MIN = 0.1;
const MAX = 2;
const STEP = 1.25;
const MINIMAP_PAST = 30;  // steps: below this the whole flow is seen at once anyway
const NOT_PAN = ".card, button, input, textarea, select, a, summary, label, .vp-tools, .vp-minimap, .cm-editor";

function button(label, text, attrs = {}) {
  const b = Object.assign(document.createElement("button"), {type: "button", textContent: text, title: label});
  b.setAttribute("aria-label", label);
  for (const [k, v] of Object.entries(attrs)) b.setAttribute(k, v);
  return b;
}

/**
 * Wrap `stage` (the element renderFlow draws into) in a pan-and-zoom viewport.
 * @returns {{zoom: () => number, zoomTo: (k: number, x?: number, y?: number) => void, fit: () => void, scroller: HTMLElement}}
 */
export function mountViewport(stage) {
  const outer = Object.assign(document.createElement("div"), {className: "vp"});
  outer.dataset.testid = "viewport";
  const scroller = Object.assign(document.createElement("div"), {className: "vp-scroll"});
  stage.before(outer);
  scroller.append(stage);
  const tools = Object.assign(document.createElement("div"), {className: "vp-tools"});
  tools.setAttribute("role", "toolbar");
  tools.setAttribute("aria-label", "Zoom");
  const out = button("Zoom out (Ctrl+wheel)", "−", {"data-zoom": "out"});
  const level = button("Zoom to 100%", "100%", {"data-zoom-level": "", "data-testid": "zoom-level"});
  const into = button("Zoom in (Ctrl+wheel)", "+", {"data-zoom": "in"});
  const fitButton = button("Fit to screen", "Fit", {"data-zoom": "fit"});
  tools.append(out, level, into, fitButton);
  outer.append(scroller, tools);

  let k = 1;
  let frame = 0;
  let pending = null;
  let idle = 0;

  function apply() {
    stage.style.transform = k === 1 ? "" : `scale(${k})`;
    outer.dataset.zoom = k.toFixed(3);
    level.textContent = `${Math.round(k * 100)}%`;
    level.setAttribute("aria-label", `${level.textContent}: zoom to 100%`);  // the visible text first (WCAG 2.5.3)
    out.disabled = k <= MIN + 1e-6;
    into.disabled = k >= MAX - 1e-6;
    minimap.moved();  // the boxes are in unzoomed pixels: only the frame moves
  }

  /** Zoom to `next`, keeping the point (x, y) of the scroll box (its centre by default) still. */
  function zoomTo(next, x = scroller.clientWidth / 2, y = scroller.clientHeight / 2) {
    next = Math.min(MAX, Math.max(MIN, next));
    if (Math.abs(next - k) < 1e-4) return;
    const ux = (scroller.scrollLeft + x) / k;
    const uy = (scroller.scrollTop + y) / k;
    k = next;
    apply();
    scroller.scrollLeft = ux * k - x;
    scroller.scrollTop = uy * k - y;
    // a hint to the compositor while zooming goes on; dropped after, so the text is redrawn sharp
    outer.classList.add("zooming");
    clearTimeout(idle);
    idle = setTimeout(() => outer.classList.remove("zooming"), 200);
  }

  /** The whole flow in view (never above 100%). */
  function fit() {
    const width = stage.scrollWidth;
    const height = stage.scrollHeight;
    if (!width || !height) return;
    const next = Math.min(1, scroller.clientWidth / width, scroller.clientHeight / height);
    k = Math.max(MIN, next);
    apply();
    scroller.scrollLeft = 0;
    scroller.scrollTop = 0;
  }

  tools.addEventListener("click", (e) => {
    const which = e.target.closest("button");
    if (!which) return;
    if (which === out) zoomTo(k / STEP);
    else if (which === into) zoomTo(k * STEP);
    else if (which === level) zoomTo(1);
    else if (which === fitButton) fit();
  });

  // Ctrl/⌘+wheel and pinches zoom; at most once a frame however fast the wheel turns
  scroller.addEventListener("wheel", (e) => {
    if (!e.ctrlKey && !e.metaKey) return;  // a plain wheel scrolls: native, on the compositor
    e.preventDefault();
    const box = scroller.getBoundingClientRect();
    const factor = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.002));
    pending = {factor: (pending?.factor || 1) * factor, x: e.clientX - box.left, y: e.clientY - box.top};
    if (!frame) {
      frame = requestAnimationFrame(() => {
        frame = 0;
        const {factor: f, x, y} = pending;
        pending = null;
        zoomTo(k * f, x, y);
      });
    }
  }, {passive: false});

  // drag on empty canvas pans; a pan is not a click (that would drop the selection)
  let pan = null;
  scroller.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || e.target.closest(NOT_PAN)) return;
    pan = {id: e.pointerId, x: e.clientX, y: e.clientY, left: scroller.scrollLeft, top: scroller.scrollTop, moved: false};
  });
  scroller.addEventListener("pointermove", (e) => {
    if (!pan || e.pointerId !== pan.id) return;
    const dx = e.clientX - pan.x;
    const dy = e.clientY - pan.y;
    if (!pan.moved && Math.hypot(dx, dy) < 4) return;
    if (!pan.moved) {
      pan.moved = true;
      scroller.setPointerCapture(e.pointerId);
      outer.classList.add("panning");
    }
    scroller.scrollLeft = pan.left - dx;
    scroller.scrollTop = pan.top - dy;
  });
  const endPan = (e) => {
    if (!pan || e.pointerId !== pan.id) return;
    if (pan.moved) {
      outer.classList.remove("panning");
      const swallow = (c) => { c.stopPropagation(); c.preventDefault(); };
      window.addEventListener("click", swallow, {capture: true, once: true});
      setTimeout(() => window.removeEventListener("click", swallow, {capture: true}), 0);
    }
    pan = null;
  };
  scroller.addEventListener("pointerup", endPan);
  scroller.addEventListener("pointercancel", endPan);

  const minimap = mountMinimap(outer, scroller, stage, {
    zoom: () => k,
    show: () => stage.querySelectorAll(".card").length > MINIMAP_PAST,
  });
  scroller.addEventListener("scroll", () => minimap.moved(), {passive: true});
  stage.addEventListener("wf:flow-drawn", () => minimap.draw());
  new ResizeObserver(() => minimap.draw()).observe(scroller);
  apply();

  return {zoom: () => k, zoomTo, fit, scroller};
}
