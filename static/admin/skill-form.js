// The skill's admin form: the chosen action's parameters as a form (the editor's schema forms),
// kept in step with the config's JSON text, which stays the value the server receives and
// can still be edited by hand (under "Edit as JSON"). Inputs the skill declares are offered as
// `${inputs.NAME}` suggestions in the text fields.
import {objectFields} from "../editor/schema-form.js";

/** @type {Array<{name: string, title: string, description: string, schema: object}>} */
const ACTIONS = JSON.parse(document.getElementById("action-schemas")?.textContent || "[]");

/** The JSON in a text area, or `undefined` when it is not a JSON object. */
function readObject(area) {
  try {
    const value = JSON.parse(area.value || "{}");
    return value && typeof value === "object" && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A datalist of the `${inputs.NAME}` references the input schema declares. */
function inputsList(inputsArea, hint) {
  const list = document.createElement("datalist");
  list.id = "skill-input-refs";
  const refresh = () => {
    const schema = readObject(inputsArea) || {};
    const names = Object.keys(schema.properties && typeof schema.properties === "object" ? schema.properties : {});
    list.replaceChildren(...names.map((n) => new Option(`\${inputs.${n}}`)));
    hint.textContent = names.length
      ? `The skill's inputs, for the values below: ${names.map((n) => `\${inputs.${n}}`).join(", ")}`
      : "The skill declares no inputs yet (its input schema's properties): values below can only be constants.";
  };
  inputsArea?.addEventListener("input", refresh);
  refresh();
  return list;
}

/** Put the parameters form in place of the config's text area. */
function mount() {
  const select = document.getElementById("id_action");
  const area = document.querySelector("textarea[data-skill-config]");
  const inputsArea = document.querySelector("textarea[data-skill-inputs]");
  if (!select || !area) return;
  const holder = document.createElement("div");
  holder.className = "skill-config-form";
  holder.dataset.testid = "config-form";
  const hint = document.createElement("p");
  hint.className = "skill-hint skill-inputs-hint";
  hint.dataset.testid = "inputs-hint";
  const formBox = document.createElement("div");
  const note = document.createElement("p");
  note.className = "field-error";
  note.setAttribute("role", "status");
  const raw = document.createElement("details");
  raw.className = "raw";
  const summary = document.createElement("summary");
  summary.textContent = "Edit as JSON";
  area.parentNode.insertBefore(holder, area);
  raw.append(summary, area);
  holder.append(hint, inputsList(inputsArea, hint), formBox, note, raw);

  const draw = () => {
    const action = ACTIONS.find((a) => a.name === select.value);
    const config = readObject(area);
    if (config === undefined) {
      note.textContent = "The configuration below is not a JSON object: fix it here, or the form cannot show it.";
      raw.open = true;
      formBox.replaceChildren();
      return;
    }
    note.textContent = "";
    if (!action) {
      formBox.replaceChildren(Object.assign(document.createElement("p"), {className: "skill-hint", textContent: "Choose an action: its parameters appear here."}));
      return;
    }
    const ctx = {root: action.schema, attach: (input) => { if (input.tagName === "INPUT") input.setAttribute("list", "skill-input-refs"); }};
    const form = objectFields(`Parameters of ${action.name}`, action.schema, config, (value) => {
      area.value = JSON.stringify(value ?? {}, null, 2);
    }, ctx);
    form.dataset.action = action.name;
    if (action.description) {
      const about = Object.assign(document.createElement("p"), {className: "skill-hint", textContent: action.description});
      form.querySelector("legend").after(about);
    }
    formBox.replaceChildren(form);
  };

  select.addEventListener("change", () => {
    // keep the values the new action also has; the others would be refused as unknown parameters
    const action = ACTIONS.find((a) => a.name === select.value);
    const config = readObject(area);
    if (action && config) {
      const known = action.schema.properties || {};
      const kept = Object.fromEntries(Object.entries(config).filter(([key]) => key in known));
      area.value = JSON.stringify(kept, null, 2);
    }
    draw();
  });
  area.addEventListener("change", draw);
  if (readObject(area) === undefined) raw.open = true;
  draw();
  document.body.dataset.skillForm = "ready";
}

mount();
