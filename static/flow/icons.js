// Small line icons drawn as inline SVG: Debian's default fonts (DejaVu, Liberation) have no
// glyph for ⏱, ⏰ and the like, which showed as a missing-glyph box. Each icon is decorative
// (aria-hidden): the text or title beside it says the same in words.
const SVG = "http://www.w3.org/2000/svg";

// 16×16 viewBox, stroked with currentColor so they follow the text's colour
const PATHS = {
  clock: ["M8 2.5a5.5 5.5 0 1 0 0 11a5.5 5.5 0 1 0 0-11z", "M8 5v3.2l2.2 1.4", "M6.5 1h3"],
  switch: ["M2 8h4", "M6 8l4-4.5h4", "M6 8h8", "M6 8l4 4.5h4", "M12.5 2l1.5 1.5l-1.5 1.5", "M12.5 11l1.5 1.5l-1.5 1.5"],
  repeat: ["M3 7V6a2 2 0 0 1 2-2h8", "M11 2l2 2l-2 2", "M13 9v1a2 2 0 0 1-2 2H3", "M5 14l-2-2l2-2"],
  approval: ["M8 2.5a2.5 2.5 0 1 0 0 5a2.5 2.5 0 1 0 0-5z", "M3 14c0-3 2.2-5 5-5c1.3 0 2.4.4 3.3 1", "M10 12.5l1.6 1.5l3-3.5"],
  undo: ["M5 3L2 6l3 3", "M2 6h7a4 4 0 0 1 0 8H6"],
  alert: ["M8 2L1.5 13.5h13z", "M8 6.5v3.5", "M8 11.6v.4"],
  finally: ["M2.5 3h11", "M2.5 8h11", "M2.5 13h7", "M12 11l2 2l-2 2"],
};

/** An inline SVG icon by name (`clock`, `switch`, `repeat`, `approval`, `undo`, `alert`, `finally`). */
export function icon(name, {size = 14, label = null} = {}) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("class", `svg-icon icon-${name}`);
  svg.setAttribute("fill", "none");
  svg.setAttribute("stroke", "currentColor");
  svg.setAttribute("stroke-width", "1.5");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
  } else {
    svg.setAttribute("aria-hidden", "true");
  }
  svg.setAttribute("focusable", "false");
  for (const d of PATHS[name] || []) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}
