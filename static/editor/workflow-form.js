// With no step selected, the properties panel edits the workflow itself: its name, title and
// inputs (name, type, default, description, required) — what the Run dialog asks for — and its
// triggers (triggers-panel.js).
import {renameKey, set} from "./model-edit.js";
import {field} from "./schema-form.js";
import {showTriggers} from "./triggers-panel.js";

const INPUT = {type: "object", properties: {
  type: {enum: ["string", "number", "integer", "boolean", "object", "array"], title: "type", default: "string"},
  default: {title: "default", description: "YAML: used when the run does not give it"},
  description: {type: "string", title: "description"},
  required: {type: "boolean", title: "required"},
}};

/** Add `key` to `map` just before `before` (or at the end): the printed YAML keeps the
 * model's key order, and a workflow's inputs belong above its steps. */
function putBefore(map, key, value, before) {
  const entries = Object.entries(map);
  const at = entries.findIndex(([k]) => k === before);
  entries.splice(at < 0 ? entries.length : at, 0, [key, value]);
  for (const k of Object.keys(map)) delete map[k];
  for (const [k, v] of entries) map[k] = v;
}

/** Fill `body` with the workflow's own fields; `onChange()` after each edit. */
export function showWorkflow(body, workflow, onChange) {
  const head = document.createElement("p");
  head.className = "props-kind";
  head.textContent = "workflow";
  body.append(head);
  for (const [key, hint] of [["name", "lower-case letters, digits, '-' and '_'"], ["title", "one line that says what it does"]]) {
    body.append(field(key, {type: "string", title: key, description: hint}, workflow[key], (v) => {
      set(workflow, key, v);
      onChange();
    }, {root: {}}));
  }
  const inputs = document.createElement("section");
  inputs.className = "props-inputs";
  inputs.dataset.testid = "inputs-form";
  const title = document.createElement("h3");
  title.textContent = "Inputs";
  inputs.append(title);
  const draw = () => {
    inputs.querySelectorAll(":scope > fieldset, :scope > p").forEach((n) => n.remove());
    const map = workflow.inputs && typeof workflow.inputs === "object" ? workflow.inputs : {};
    if (!Object.keys(map).length) {
      const none = document.createElement("p");
      none.className = "muted";
      none.textContent = "No inputs: a run needs nothing to start.";
      inputs.insertBefore(none, add);
    }
    for (const name of Object.keys(map)) {
      const box = document.createElement("fieldset");
      box.dataset.input = name;
      const legend = document.createElement("legend");
      legend.textContent = name;
      box.append(legend);
      let current = name;
      box.append(field("name", {type: "string", title: "name", description: "letters, digits and _"}, name, (v) => {
        if (!v || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v) || (v !== current && v in map)) return;
        renameKey(map, current, v);
        current = v;
        legend.textContent = v;
        box.dataset.input = v;
        onChange();
      }, {root: {}}));
      const spec = map[name] && typeof map[name] === "object" ? map[name] : (map[name] = {});
      for (const [key, schema] of Object.entries(INPUT.properties)) {
        box.append(field(key, schema, spec[key], (v) => { set(spec, key, v); onChange(); }, {root: {}}));
      }
      const remove = Object.assign(document.createElement("button"), {type: "button", textContent: `Remove ${name}`});
      remove.addEventListener("click", () => {
        delete map[current];
        if (!Object.keys(map).length) delete workflow.inputs;
        onChange();
        draw();
      });
      box.append(remove);
      inputs.insertBefore(box, add);
    }
  };
  const add = Object.assign(document.createElement("button"), {type: "button", textContent: "+ input", className: "add"});
  add.addEventListener("click", () => {
    if (!workflow.inputs || typeof workflow.inputs !== "object") putBefore(workflow, "inputs", {}, "steps");
    let n = 1;
    while (`input_${n}` in workflow.inputs) n++;
    workflow.inputs[`input_${n}`] = {type: "string"};
    onChange();
    draw();
  });
  inputs.append(add);
  draw();
  body.append(inputs);
  showTriggers(body, workflow, onChange);
  const help = document.createElement("p");
  help.className = "muted";
  help.textContent = "Select a step to edit it. Drag actions and blocks from the palette onto the canvas; " +
    "outputs and limits are edited in the YAML pane.";
  body.append(help);
}
