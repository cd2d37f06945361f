// Reference completions: typing `${` or `${fetch.` in a field offers the inputs, the earlier
// steps and the fields their actions are known to return.
import {earlierIds, enclosingLoops, findById, kindOf} from "../flow/tree.js";

/**
 * The references visible to `step`: `inputs.x`, earlier step ids and their known output
 * fields, the foreach item's name and `loop.index`.
 */
export function candidates(workflow, step, actionsByName) {
  const out = [];
  for (const name of Object.keys(workflow.inputs || {})) out.push(`inputs.${name}`);
  for (const loop of enclosingLoops(workflow, step)) out.push(loop.as || "item", "loop.index");
  for (const id of earlierIds(workflow, step)) {
    out.push(id);
    const earlier = findById(workflow, id);
    const action = earlier && kindOf(earlier) === "action" ? actionsByName.get(earlier.uses) : null;
    for (const field of Object.keys(action?.output_schema?.properties || {})) out.push(`${id}.${field}`);
  }
  return [...new Set(out)];
}

let counter = 0;

/** Give `input` a completion list driven by `source()` (a list of reference names). */
export function attachCompletions(input, source) {
  const list = document.createElement("ul");
  list.className = "completions";
  list.setAttribute("role", "listbox");
  counter += 1;
  list.id = `completions-${counter}`;
  list.hidden = true;
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  let active = 0;
  let options = [];
  let start = -1;

  const close = () => { list.hidden = true; options = []; input.removeAttribute("aria-activedescendant"); };
  const pick = (value) => {
    const end = input.selectionStart;
    const text = input.value;
    const closing = text.slice(end).startsWith("}") ? "" : "}";
    input.value = `${text.slice(0, start)}${value}${closing}${text.slice(end)}`;
    const caret = start + value.length + closing.length;
    input.setSelectionRange(caret, caret);
    close();
    input.dispatchEvent(new Event("input", {bubbles: true}));
  };
  const draw = () => {
    list.replaceChildren(...options.map((value, i) => {
      const li = document.createElement("li");
      li.id = `${list.id}-${i}`;
      li.setAttribute("role", "option");
      li.dataset.testid = "completion";
      li.textContent = value;
      li.setAttribute("aria-selected", String(i === active));
      li.addEventListener("mousedown", (e) => { e.preventDefault(); pick(value); });
      return li;
    }));
    input.setAttribute("aria-activedescendant", `${list.id}-${active}`);
  };
  input.addEventListener("input", (e) => {
    if (!e.isTrusted && list.hidden) return;
    const before = input.value.slice(0, input.selectionStart ?? input.value.length);
    const match = before.match(/\$\{([A-Za-z0-9_.]*)$/);
    if (!match) return close();
    start = before.length - match[1].length;
    options = source().filter((c) => c.startsWith(match[1]) && c !== match[1]).slice(0, 12);
    active = 0;
    list.hidden = options.length === 0;
    if (options.length) draw();
  });
  input.addEventListener("keydown", (e) => {
    if (list.hidden) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
      draw();
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      pick(options[active]);
    } else if (e.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 100));
  input.insertAdjacentElement("afterend", list);
}
