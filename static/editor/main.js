// The editor page: keeps one model of the workflow in sync between the canvas, the
// properties panel and the YAML pane; validation, drafts, undo, save, run, import, export.
import {api} from "../common/api.js";
import {deleteStep, idsOf, insertInto, move, newStep} from "../flow/tree.js";
import {mountCanvas} from "./canvas.js";
import {mountViewport} from "../flow/viewport.js";
import {mountNeedsDrag} from "./needs-drag.js";
import {mountPalette} from "./palette.js";
import {showProperties} from "./properties.js";
import {attachCompletions, candidates} from "./completions.js";
import {mountYaml} from "./yaml-sync.js";
import {onItsLine, parseYaml, printYaml} from "./yaml-model.js";
import {requiredDefaults} from "./schema-form.js";
import {mountDeselect} from "./deselect.js";
import {mountRenameOffer} from "./rename-offer.js";
import {History} from "./history.js";
import {mountLastRun} from "./last-run.js";
import {askSaveMessage, showHistory, showRuns, startRun} from "./dialogs.js";

const data = JSON.parse(document.getElementById("editor-data").textContent);
const draftKey = `workflow-draft:${data.id}`;
const $ = (sel) => document.querySelector(sel);
const banner = $("[data-testid=banner]");
const validity = $("[data-testid=validity]");
const versionState = $("[data-testid=version-state]");
const properties = $(".properties");
const toWorkflow = $("[data-testid=to-workflow]");

const state = {text: data.yaml, saved: data.yaml, version: data.version, workflow: {steps: []}, inputs: {},
  issues: [], shown: undefined, selected: null};
let actionsByName = new Map();

function showBanner(text, action) {
  banner.replaceChildren(text);
  if (action) {
    const button = Object.assign(document.createElement("button"), {type: "button", textContent: action.label});
    button.addEventListener("click", action.run);
    banner.append(" ", button);
  }
  banner.hidden = !text;
}

function dirty() {
  return state.text !== state.saved;
}

function updateState() {
  versionState.textContent = `v${state.version} ${dirty() ? "(unsaved changes)" : "(saved)"}`;
  versionState.dataset.dirty = String(dirty());
  if (dirty()) localStorage.setItem(draftKey, JSON.stringify({version: state.version, text: state.text}));
  else localStorage.removeItem(draftKey);
}

function references() {
  return state.selected ? candidates(state.workflow, state.selected, actionsByName)
    : [...Object.keys(state.workflow.inputs || {}).map((n) => `inputs.${n}`), ...idsOf(state.workflow)];
}

function select(step) {
  flush();
  state.selected = step;
  toWorkflow.hidden = !step;
  if (step === state.shown && (step || state.shownWorkflow === state.workflow)) return;
  state.shownWorkflow = state.workflow;
  state.shown = step;
  showProperties(properties, step, {
    workflow: state.workflow,
    actionsByName,
    attach: (input) => attachCompletions(input, references),
    onChange: (edited, extra) => {
      if (extra?.renamed) renameOffer.note(edited, extra.renamed[0]);
      fromModel({typing: true, step: edited});
    },
  });
}

// -- back to the workflow's properties; the offer that follows a rename ------------------------
mountDeselect({button: toWorkflow, canvas: $("[data-testid=canvas]"), selected: () => Boolean(state.selected),
  deselect: () => canvas.select(null)});
const renameOffer = mountRenameOffer($("[data-testid=rename-offer]"), {
  workflow: () => state.workflow,
  onApplied(said) { fromModel(); showBanner(said); },
});

// -- the two directions of the sync -------------------------------------------------------------
let historyTimer = null;
let parseTimer = null;
let modelTimer = null;
let validateTimer = null;
let validation = null;

/**
 * After an edit of the model: new YAML text, redraw, validate. Typing in the properties
 * redraws only the edited card at once; the YAML pane follows 150 ms after the last keystroke
 * (printing and laying out a long workflow on every key made typing lag).
 */
function fromModel({typing = false, step = null} = {}) {
  showBanner("");
  if (!typing) {
    canvas.render(state.workflow);
    return syncText(false);
  }
  if (step && !canvas.refresh(step)) canvas.render(state.workflow);  // null: the workflow's own fields
  clearTimeout(modelTimer);
  modelTimer = setTimeout(() => syncText(true), 150);
}

/** The model's edits into the text: the YAML pane, history, draft, validation. */
function syncText(typing) {
  clearTimeout(modelTimer);
  modelTimer = null;
  state.text = printYaml(state.workflow, state.text);
  yamlPane.setText(state.text);
  clearTimeout(historyTimer);
  if (typing) historyTimer = setTimeout(() => history.push(state.text), 400);
  else history.push(state.text);
  changed();
}

/** Bring the text up to date now (before a save, an undo, a selection, leaving...). */
function flush() {
  if (modelTimer !== null) syncText(true);
}

/** After the text changed (typing, undo, import, restore): the canvas follows when it can. */
function fromText(text, {record = true, echo = false} = {}) {
  state.text = text;
  if (echo) yamlPane.setText(text);
  const parsed = parseYaml(text);
  if (parsed.error) {
    showBanner(`The YAML has an error at line ${parsed.error.line}, column ${parsed.error.column}: ${parsed.error.message}. ` +
      "The canvas shows the last valid state; your text is kept.");
    yamlPane.showIssues([parsed.error]);
    validity.textContent = "✕ YAML syntax error";
    validity.dataset.valid = "false";
  } else {
    showBanner("");
    state.workflow = parsed.workflow;
    canvas.render(state.workflow);
    if (record) history.push(text);
  }
  changed(!parsed.error);
}

function changed(check = true) {
  updateState();
  if (!check) return;
  clearTimeout(validateTimer);
  validateTimer = setTimeout(validate, 250);
}

async function validate() {
  const text = state.text;
  validation?.abort();
  validation = new AbortController();
  let result;
  try {
    result = await api("validate", {method: "POST", body: {yaml: text}, signal: validation.signal});
  } catch (err) {
    if (err.name === "AbortError") return;
    result = {valid: false, errors: [{line: 1, column: 1, path: "", message: err.message}]};
  }
  if (text !== state.text) return;
  // what only a save finds (a name clash) stays marked until the text changes
  if (result.valid) state.inputs = result.inputs || {};
  if (state.refused?.text === text) result = {...result, valid: false, errors: [...result.errors, ...state.refused.issues]};
  state.issues = result.errors;
  yamlPane.showIssues(result.errors);
  canvas.markIssues(result.errors);
  validity.textContent = result.valid ? "✓ valid" : `✕ ${result.errors.length} problem${result.errors.length === 1 ? "" : "s"}`;
  validity.dataset.valid = String(result.valid);
  validity.title = result.errors.map((i) => `line ${i.line}: ${i.path ? `${i.path}: ` : ""}${i.message}`).join("\n");
}

// -- the parts ---------------------------------------------------------------------------------
mountViewport($("[data-testid=canvas]"));
const canvas = mountCanvas($("[data-testid=canvas]"), {
  onSelect: select,
  onMove(from, to, index, step) {
    if (!from || !to || !move(state.workflow, from, to, index, step)) return canvas.render(state.workflow);
    fromModel();
  },
  onDelete(step) {
    if (deleteStep(state.workflow, step)) {
      if (state.selected === step) select(null);
      fromModel();
    }
  },
  onEdit: () => fromModel(),
});

mountNeedsDrag($("[data-testid=canvas]"), {model: () => state.workflow, changed: () => fromModel(), say: showBanner});

const lastRun = mountLastRun($("[data-testid=canvas]"), {
  workflowId: data.id, version: () => state.version, text: () => { flush(); return state.text; },
});

const yamlPane = mountYaml($("[data-yaml]"), state.text, {
  references,
  onSave: () => save(),
  onText(text) {
    state.text = text;
    updateState();
    clearTimeout(parseTimer);
    parseTimer = setTimeout(() => { parseTimer = null; fromText(yamlPane.getText()); }, 250);
  },
});
yamlPane.view.contentDOM.addEventListener("focus", flush);  // type over the latest text

function addEntry(entry, list, index) {
  const step = newStep(state.workflow, entry.block ? entry : {...entry, defaults: {...requiredDefaults(actionsByName.get(entry.name)?.schema), ...entry.defaults}});
  state.workflow.steps = state.workflow.steps || [];
  const point = list ? {ref: canvas.refOf(list), index} : canvas.insertionPoint();
  if (!point.ref) return canvas.render(state.workflow);
  insertInto(state.workflow, point.ref, point.index, step);
  canvas.select(step);
  fromModel();
}

async function save({force = false} = {}) {
  flush();
  if (parseTimer !== null) {  // text typed just now: read it first, or its redraw would clear what the save says
    clearTimeout(parseTimer);
    parseTimer = null;
    fromText(yamlPane.getText());
  }
  const message = await askSaveMessage();
  if (message === null) return;
  const body = {yaml: state.text, message};
  if (!force) body.base_version = state.version;  // refused (409) if someone saved meanwhile
  try {
    const saved = await api(`workflows/${data.id}`, {method: "PUT", body});
    state.saved = saved.yaml;
    state.version = saved.version;
    $("[data-testid=wf-name]").textContent = saved.name;
    showBanner(`Saved as version ${saved.version}.`);
    updateState();
    lastRun.reload();  // a new version has no run yet: the cards say so
  } catch (err) {
    if (err.status === 409) {
      showBanner(`Not saved: ${err.message}. Your changes are kept in this browser.`,
        {label: "Save mine as the newest version", run: () => save({force: true})});
      return;
    }
    const issues = (err.body?.errors || []).map((issue) => onItsLine(state.text, issue));
    if (issues.length) { yamlPane.showIssues(issues); canvas.markIssues(issues); }
    state.refused = {text: state.text, issues};
    const said = issues.slice(0, 3).map((i) => `${i.path ? `${i.path}: ` : ""}${i.message} (line ${i.line})`).join("; ");
    const more = issues.length > 3 ? ` and ${issues.length - 3} more` : "";
    showBanner(`Not saved: ${said ? `${said}${more}` : err.message}. Your changes are kept in this browser.`);
  }
}

const history = new History(state.text);
function undoRedo(redo) {
  flush();
  const text = redo ? history.redo() : history.undo();
  if (text !== null) fromText(text, {record: false, echo: true});
}

const actions = {
  save,
  undo: () => undoRedo(false),
  redo: () => undoRedo(true),
  run: async () => {
    if (dirty()) return showBanner("Save your changes first: a run runs a saved version.", {label: "Save", run: save});
    clearTimeout(validateTimer);
    await validate();  // the inputs' form comes from the validated workflow
    startRun(data.id, state.inputs);
  },
  history: () => showHistory(data.id, (text, number) => {
    fromText(text, {echo: true});
    showBanner(`Restored version ${number} into the editor; save to make it the current version.`);
  }),
  runs: () => showRuns(data.id),
  import: () => $("[data-testid=import-file]").click(),
  export: () => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([state.text], {type: "application/yaml"}));
    link.download = `${state.workflow.name || data.name}.yaml`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  },
};

document.querySelector(".editor-bar").addEventListener("click", (e) => {
  const button = e.target.closest("button[data-action]");
  flush();
  if (button) actions[button.dataset.action]();
});
$("[data-testid=import-file]").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  fromText(await file.text(), {echo: true});
  showBanner(`Imported ${file.name}; save to keep it.`);
  e.target.value = "";
});
document.addEventListener("keydown", (e) => {
  const mod = e.ctrlKey || e.metaKey;
  if (!mod) return;
  flush();
  const inText = e.target.closest?.(".cm-editor, input, textarea, select");
  if (e.key.toLowerCase() === "s") { e.preventDefault(); save(); }
  else if (!inText && e.key.toLowerCase() === "z") { e.preventDefault(); undoRedo(e.shiftKey); }
  else if (!inText && e.key.toLowerCase() === "y") { e.preventDefault(); undoRedo(true); }
});
window.addEventListener("beforeunload", (e) => {
  flush();
  if (dirty()) { e.preventDefault(); e.returnValue = ""; }
});

// -- start -------------------------------------------------------------------------------------
const draft = JSON.parse(localStorage.getItem(draftKey) || "null");
if (draft && draft.text !== data.yaml) {
  fromText(data.yaml, {record: false});  // the canvas's last valid state, should the draft not parse
  yamlPane.setText(draft.text);
  fromText(draft.text);
  showBanner(`Restored unsaved changes from this browser (based on v${draft.version}).`, {
    label: "Discard them", run: () => { fromText(data.yaml, {echo: true}); showBanner(""); },
  });
} else {
  fromText(state.text, {record: false});
}
select(null);
lastRun.reload();
api("actions").then((list) => {
  actionsByName = new Map(list.map((a) => [a.name, a]));
  mountPalette($(".palette"), list, addEntry);
  state.shown = undefined;
  select(state.selected);
  document.body.dataset.ready = "true";
}).catch((err) => showBanner(`The palette could not load: ${err.message}`));
