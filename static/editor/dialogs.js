// The editor's dialogs: save with a message, version history (view, restore), run with
// inputs (a form from their declared types; lists and mappings in YAML, like the rest of the
// editor, JSON being YAML too), and the workflow's run history.
import {api} from "../common/api.js";
import {duration, mark} from "../common/status.js";
import {parse, stringify} from "../vendor/yaml.js";

function dialog(name) {
  return document.querySelector(`dialog[data-dialog=${name}]`);
}

function say(node, text) {
  node.textContent = text;
  node.hidden = !text;
}

/** Ask for a version message; resolves to the message, or null when cancelled. */
export function askSaveMessage() {
  const d = dialog("save");
  const input = d.querySelector("input[name=message]");
  input.value = "";
  d.showModal();
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "save" ? input.value : null), {once: true});
  });
}

/** Show the version list; `onRestore(yaml, number)` when one is restored. */
export async function showHistory(workflowId, onRestore) {
  const d = dialog("history");
  const list = d.querySelector("[data-versions]");
  const view = d.querySelector("[data-version-view]");
  const restore = d.querySelector("[data-restore]");
  view.textContent = "";
  restore.hidden = true;
  list.replaceChildren();
  d.showModal();
  const versions = await api(`workflows/${workflowId}/versions`);
  for (const v of versions) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.testid = "version";
    button.textContent = `v${v.number}`;
    const when = new Date(v.created_at).toLocaleString();
    li.append(button, ` ${when} · ${v.author || ""}${v.message ? ` · ${v.message}` : ""}`);
    button.addEventListener("click", async () => {
      const full = await api(`workflows/${workflowId}/versions/${v.number}`);
      view.textContent = full.yaml;
      view.setAttribute("aria-label", `Version ${v.number}`);
      restore.hidden = false;
      restore.textContent = `Restore v${v.number}`;
      restore.onclick = () => { d.close(); onRestore(full.yaml, v.number); };
    });
    list.append(li);
  }
}

function inputField(name, spec) {
  const row = document.createElement("div");
  row.className = "field";
  const id = `input-${name}`;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = `${name}${spec.required ? " *" : ""} (${spec.type || "string"})`;
  let control;
  if (spec.type === "boolean") {
    control = Object.assign(document.createElement("input"), {type: "checkbox", checked: Boolean(spec.default)});
  } else if (spec.type === "object" || spec.type === "array") {
    control = document.createElement("textarea");
    control.value = spec.default !== undefined && spec.default !== null ? stringify(spec.default, {lineWidth: 0}).trimEnd() : "";
    control.placeholder = spec.type === "array" ? "a list in YAML: - one\n- two  (or [one, two])" : "a mapping in YAML: key: value  (or {key: value})";
  } else {
    control = Object.assign(document.createElement("input"), {type: spec.type === "number" || spec.type === "integer" ? "number" : "text"});
    if (spec.type === "number") control.step = "any";
    control.value = spec.default !== undefined && spec.default !== null ? String(spec.default) : "";
  }
  control.id = id;
  control.name = name;
  if (spec.description) control.title = spec.description;
  row.append(label, control);
  return row;
}

/** A list or mapping input's YAML; an Error naming the input when it is not one. */
function structured(name, type, text) {
  let value;
  try {
    value = parse(text);
  } catch (err) {
    const at = err.linePos?.[0];
    throw new Error(`${name}: not valid YAML${at ? ` (line ${at.line}, column ${at.col})` : ""}: ${err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}`);
  }
  const isList = Array.isArray(value);
  const isMap = value !== null && typeof value === "object" && !isList;
  if (type === "array" ? !isList : !isMap) {
    const got = isList ? "a list" : isMap ? "a mapping" : value === null ? "nothing" : `${typeof value === "string" ? "text" : typeof value}`;
    throw new Error(`${name}: expected ${type === "array" ? "a list (- one per line, or [a, b])" : "a mapping (key: value)"}, got ${got}`);
  }
  return value;
}

function readInputs(form, specs) {
  const out = {};
  for (const [name, spec] of Object.entries(specs)) {
    const control = form.elements.namedItem(name);
    if (spec.type === "boolean") out[name] = control.checked;
    else if (control.value === "") continue;
    else if (spec.type === "object" || spec.type === "array") out[name] = structured(name, spec.type, control.value);
    else if (spec.type === "number" || spec.type === "integer") out[name] = Number(control.value);
    else out[name] = control.value;
  }
  return out;
}

/** Ask for the inputs, start a run, open its monitor. */
export function startRun(workflowId, specs) {
  const d = dialog("run");
  const form = d.querySelector("form");
  const fields = d.querySelector("[data-inputs]");
  const error = d.querySelector("[data-error]");
  say(error, "");
  fields.replaceChildren(...Object.entries(specs || {}).map(([n, s]) => inputField(n, s)));
  if (!fields.children.length) fields.innerHTML = "<p class=muted>This workflow takes no inputs.</p>";
  form.onsubmit = async (e) => {
    if (e.submitter?.value !== "run") return;
    e.preventDefault();
    let inputs;
    try {
      inputs = readInputs(form, specs || {});
    } catch (err) {
      say(error, err.message);
      form.elements.namedItem(err.message.split(":")[0])?.focus();
      return;
    }
    try {
      const run = await api(`workflows/${workflowId}/runs`, {method: "POST", body: {inputs}});
      location.assign(`/runs/${run.id}/`);
    } catch (err) {
      const problems = err.body?.errors?.map((i) => i.message).join("; ");
      say(error, problems || err.message);
    }
  };
  d.showModal();
}

/** The workflow's runs: status, when, duration, a link to each monitor. */
export async function showRuns(workflowId) {
  const d = dialog("runs");
  const body = d.querySelector("tbody");
  body.replaceChildren();
  d.showModal();
  // the latest 25 (a page of summaries under 10 KB); the dialog's link opens them all on /runs/
  const runs = await api(`workflows/${workflowId}/runs?limit=25`);
  for (const run of runs) {
    const tr = document.createElement("tr");
    tr.dataset.testid = "run-row";
    tr.innerHTML = "<td><a></a></td><td><span class=status></span></td><td></td><td></td><td></td>";
    const link = tr.querySelector("a");
    link.href = `/runs/${run.id}/`;
    link.textContent = `#${run.id}`;
    const status = tr.querySelector(".status");
    status.dataset.status = run.status;
    status.textContent = `${mark(run.status)} ${run.status}`;
    // a trial of one step (builder/step_try.py) says so: it is not a run of the whole version
    tr.children[2].textContent = `v${run.version}${run.mode === "try" ? ` · try of ${run.origin_detail?.try ?? "a step"}` : ""}`;
    tr.children[3].textContent = new Date(run.created_at).toLocaleString();
    tr.children[4].textContent = duration(run.duration_ms);
    body.append(tr);
  }
  if (!runs.length) body.innerHTML = "<tr><td colspan=5 class=muted>No runs yet.</td></tr>";
}
