// The minimap of a big flow: every card as a small box (coloured by its status in the
// monitor) and the part in view as a frame; a click or a drag on it brings that part into
// view. Drawn on a <canvas>: 300 cards are 300 rectangles, not a second copy of the DOM.
// The cards' boxes are read once per drawing of the flow; scrolling only moves the frame.

const WIDTH = 180;
const HEIGHT = 150;
const COLOURS = {running: "--running", retrying: "--retrying", succeeded: "--succeeded", failed: "--failed",
  skipped: "--skipped", cancelled: "--cancelled", waiting: "--waiting", compensated: "--compensated"};

/**
 * A minimap in `outer` for the flow `stage` scrolled by `scroller`.
 * @param {{zoom: () => number, show: () => boolean}} options
 * @returns {{draw: () => void, moved: () => void}}
 */
export function mountMinimap(outer, scroller, stage, {zoom, show}) {
  const canvas = document.createElement("canvas");
  canvas.className = "vp-minimap";
  canvas.dataset.testid = "minimap";
  canvas.setAttribute("aria-hidden", "true");  // a pointer's shortcut: the keyboard scrolls and zooms
  canvas.title = "Minimap: click or drag to move the view";
  canvas.hidden = true;
  outer.append(canvas);
  let boxes = [];  // [x, y, w, h, isBlock, card] in unzoomed flow pixels
  let scale = 1;
  let size = [0, 0];
  let frame = 0;
  let recolour = 0;
  let follow = 0;
  const colours = {};
  const colour = (name) => colours[name] ??= getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#8c959f";

  function measure() {
    const k = zoom();
    const origin = stage.getBoundingClientRect();
    const box = (node, block) => {
      const r = node.getBoundingClientRect();
      return [(r.left - origin.left) / k, (r.top - origin.top) / k, r.width / k, r.height / k, block, node];
    };
    // a card in a part the page skips (content-visibility: the monitor's lanes out of view) would
    // be laid out just to be measured, one lane at a time: its lane's box stands for it
    const skipped = new Set();
    boxes = [];
    for (const card of stage.querySelectorAll(".card")) {
      if (card.checkVisibility?.({contentVisibilityAuto: true}) === false) {
        const lane = card.closest(".lane");
        if (lane && !skipped.has(lane)) boxes.push(box(lane, true));
        if (lane) { skipped.add(lane); continue; }
      }
      boxes.push(box(card, !card.classList.contains("card-action")));
    }
    size = [Math.max(stage.scrollWidth, 1), Math.max(stage.scrollHeight, 1)];
    // at most a third of a narrow canvas (the editor's at 1024 px is ~450 px wide)
    scale = Math.min(Math.min(WIDTH, scroller.clientWidth / 3) / size[0], Math.min(HEIGHT, scroller.clientHeight / 3) / size[1]);
    const ratio = window.devicePixelRatio || 1;
    canvas.style.width = `${Math.ceil(size[0] * scale)}px`;
    canvas.style.height = `${Math.ceil(size[1] * scale)}px`;
    canvas.width = Math.ceil(size[0] * scale * ratio);
    canvas.height = Math.ceil(size[1] * scale * ratio);
  }

  function paint() {
    if (canvas.hidden) return;
    const g = canvas.getContext("2d");
    const ratio = window.devicePixelRatio || 1;
    g.setTransform(ratio * scale, 0, 0, ratio * scale, 0, 0);
    g.clearRect(0, 0, size[0], size[1]);
    for (const [x, y, w, h, block, card] of boxes) {
      const status = COLOURS[card.dataset.status];
      if (block) {
        g.strokeStyle = status ? colour(status) : "#afb8c1";
        g.lineWidth = 2 / scale;
        g.strokeRect(x, y, w, h);
      } else {
        g.fillStyle = status ? colour(status) : "#afb8c1";
        g.fillRect(x, y, w, h);
      }
    }
    const k = zoom();
    g.strokeStyle = "#0a58ca";
    g.lineWidth = 2 / scale;
    g.strokeRect(scroller.scrollLeft / k, scroller.scrollTop / k, scroller.clientWidth / k, scroller.clientHeight / k);
  }

  function draw() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      canvas.hidden = !show();
      outer.classList.toggle("has-minimap", !canvas.hidden);
      if (canvas.hidden) return;
      measure();
      paint();
    });
  }

  // the monitor recolours cards as the run goes: repaint (no measuring) a few times a second
  new MutationObserver(() => {
    if (!recolour && !canvas.hidden) recolour = setTimeout(() => { recolour = 0; paint(); }, 250);
  }).observe(stage, {subtree: true, attributes: true, attributeFilter: ["data-status"]});

  function goTo(e) {
    const box = canvas.getBoundingClientRect();
    const k = zoom();
    const x = (e.clientX - box.left) / scale;
    const y = (e.clientY - box.top) / scale;
    scroller.scrollLeft = x * k - scroller.clientWidth / 2;
    scroller.scrollTop = y * k - scroller.clientHeight / 2;
  }
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    goTo(e);
    const move = (m) => goTo(m);
    canvas.addEventListener("pointermove", move);
    canvas.addEventListener("pointerup", () => canvas.removeEventListener("pointermove", move), {once: true});
  });

  return {draw, moved: () => { follow ||= requestAnimationFrame(() => { follow = 0; paint(); }); }};
}
