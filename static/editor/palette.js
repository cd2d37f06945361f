// The palette: blocks, built-in actions and enabled skills, grouped, searchable, draggable
// onto the canvas (SortableJS clone lists) or added with Enter at the selected place.
import Sortable from "../vendor/sortable.esm.js";
import {icon} from "../flow/icons.js";

const BLOCKS = [
  {block: "parallel", name: "parallel", title: "Parallel", description: "Branches that run at the same time", icon: "∥"},
  {block: "foreach", name: "foreach", title: "For each", description: "The same steps for every item of a list", icon: "⟳"},
  {block: "group", name: "group", title: "Group", description: "A sequence of steps as one", icon: "▤"},
  {block: "switch", name: "switch", title: "Switch", description: "One of several cases runs, chosen by a value", svg: "switch"},
  {block: "repeat", name: "repeat", title: "Repeat", description: "A group run again until a condition holds", svg: "repeat"},
];
const SVG_ACTIONS = {approval: "approval"};  // built-in actions with an icon of their own

/**
 * Fill `root` with the palette; `onAdd(entry, toElement, index)` is called for a drop,
 * `onAdd(entry)` for Enter on an entry (the editor decides where).
 */
export function mountPalette(root, actions, onAdd) {
  const entries = new Map();
  const search = root.querySelector("[data-testid=palette-search]");
  const lists = root.querySelector("[data-palette-lists]");
  const groups = [["Blocks", BLOCKS]];
  const byCategory = new Map();
  for (const action of actions) {
    const heading = action.kind === "skill" ? `Skills · ${action.category || "general"}` : `Actions · ${action.category || "general"}`;
    if (!byCategory.has(heading)) byCategory.set(heading, []);
    byCategory.get(heading).push(action);
  }
  for (const heading of [...byCategory.keys()].sort()) groups.push([heading, byCategory.get(heading)]);

  for (const [heading, items] of groups) {
    const section = document.createElement("section");
    section.className = "palette-group";
    const h = document.createElement("h3");
    h.textContent = heading;
    const list = document.createElement("div");
    list.className = "palette-list";
    list.setAttribute("role", "list");
    list.setAttribute("aria-label", heading);
    for (const item of items) {
      const node = document.createElement("div");
      node.className = "palette-item";
      node.tabIndex = 0;
      node.setAttribute("role", "listitem");
      node.dataset.testid = "palette-item";
      node.dataset.name = item.name;
      node.setAttribute("aria-label", `Add ${item.title || item.name}`);
      node.title = item.description || item.title || item.name;
      node.innerHTML = `<span class="icon" aria-hidden="true"></span><span class="palette-name"></span><span class="palette-title muted"></span>`;
      const svg = item.svg || (item.kind !== "skill" && SVG_ACTIONS[item.name]);
      if (svg) node.querySelector(".icon").append(icon(svg));
      else node.querySelector(".icon").textContent = item.icon || (item.kind === "skill" ? "★" : "▸");
      node.querySelector(".palette-name").textContent = item.block ? item.title : item.name;
      node.querySelector(".palette-title").textContent = item.block ? "" : item.title || "";
      entries.set(node, item);
      list.append(node);
    }
    Sortable.create(list, {
      group: {name: "steps", pull: "clone", put: false}, sort: false, forceFallback: true,
      fallbackOnBody: true, draggable: ".palette-item",
      onStart: () => document.dispatchEvent(new CustomEvent("wf:drag-start")),
      onEnd(evt) {
        document.dispatchEvent(new CustomEvent("wf:drag-end"));
        if (evt.to === list) return;
        const entry = entries.get(evt.item);
        const to = evt.to;
        const index = evt.newIndex;  // a palette entry is not a ".card": count every child
        // the original entry goes back to the palette in place of Sortable's copy
        evt.clone.replaceWith(evt.item);
        onAdd(entry, to, index);
      },
    });
    section.append(h, list);
    lists.append(section);
  }

  root.addEventListener("keydown", (e) => {
    const node = e.target.closest?.(".palette-item");
    if (node && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      onAdd(entries.get(node));
    }
  });
  search.addEventListener("input", () => {
    const q = search.value.trim().toLowerCase();
    for (const [node, item] of entries) {
      const hay = `${item.name} ${item.title || ""} ${item.description || ""} ${item.category || ""}`.toLowerCase();
      node.hidden = q !== "" && !hay.includes(q);
    }
    for (const section of lists.children) {
      section.hidden = [...section.querySelectorAll(".palette-item")].every((n) => n.hidden);
    }
  });
  return {entries};
}
