// The properties panel: the selected step's id, name, if, timeout, retry, on_error, needs,
// its block settings (a switch's cases, a group's repeat), its `with` as a form from the
// action's or skill's JSON Schema, and its on_failure / finally / compensate steps.
import {kindOf} from "../flow/tree.js";
import {field, objectFields, rawYaml} from "./schema-form.js";
import {showWorkflow} from "./workflow-form.js";
import {listFields, listKeysOf, repeatFields, switchFields, workflowFields} from "./construct-props.js";
import {set} from "./model-edit.js";

const DURATION = {type: "scalar", description: "seconds, or 250ms / 10s / 2m / 1h"};
const COMMON = [
  ["id", {type: "string", title: "id", description: "unique in the workflow: letters, digits, _"}],
  ["name", {type: "string", title: "name", description: "label shown in the editor and the monitor"}],
  ["if", {type: "string", title: "if", description: "expression; when false the step is skipped"}],
  ["timeout", {...DURATION, title: "timeout"}],
];
const BLOCK = {
  parallel: [["concurrency", {type: "integer", title: "concurrency", description: "at most N branches at once"}],
    ["min_success", {type: "integer", title: "min_success", description: "quorum of branches"}]],
  foreach: [["foreach", {type: "string", title: "foreach", description: "an expression giving a list"}],
    ["as", {type: "string", title: "as", description: "the item's name in the body"}],
    ["concurrency", {type: "integer", title: "concurrency", description: "items in flight at once"}],
    ["min_success", {type: "integer", title: "min_success"}]],
  group: [],
};
const POLICIES = ["fail_fast", "wait_all", "continue", "rollback"];
const ON_ERROR = {action: ["fail", "continue"], parallel: POLICIES, foreach: POLICIES, group: POLICIES, switch: []};
const RETRY = {type: "object", title: "retry", properties: {
  attempts: {type: "integer", title: "attempts"}, delay: {...DURATION, title: "delay"},
  backoff: {type: "number", title: "backoff"}, max_delay: {...DURATION, title: "max_delay"}}};

/**
 * Show `step` in `root`. `onChange(step, {renamed})` after every edit (the step object is
 * edited in place). `attach(input)` adds reference completions to text fields.
 */
export function showProperties(root, step, {workflow, actionsByName, onChange, attach}) {
  const body = root.querySelector("[data-properties]");
  body.replaceChildren();
  const actions = [...actionsByName.values()];
  if (!step) {
    showWorkflow(body, workflow, () => onChange(null, {}));
    // the workflow's own lists and runs-at-once settings go above its triggers
    const extra = [workflowFields(workflow, () => onChange(null, {})),
      listFields(workflow, ["on_failure", "finally"], {workflow, actions, changed: (added) => onChange(added || null, {})})];
    const triggers = body.querySelector(".props-triggers");
    if (triggers) triggers.before(...extra);
    else body.append(...extra);
    return;
  }
  const kind = kindOf(step);
  const ctx = {root: {}, attach};
  const changed = (extra = {}) => onChange(step, extra);
  const add = (key, schema) => body.append(field(key, schema, step[key], (v) => {
    const renamed = key === "id" ? {renamed: [step.id, v]} : {};
    set(step, key, v);
    changed(renamed);
  }, ctx));

  const head = document.createElement("p");
  head.className = "props-kind";
  head.textContent = kind === "action" ? `uses ${step.uses}` : step.repeat ? "repeat (a group run again)" : `${kind} block`;
  body.append(head);
  COMMON.forEach(([k, s]) => add(k, s));
  for (const [k, s] of BLOCK[kind] || []) add(k, s);
  if (kind === "switch") body.append(switchFields(step, () => changed(), ctx));
  if (kind === "group") body.append(repeatFields(step, () => changed(), ctx));

  if (kind === "action") {
    const action = actionsByName.get(step.uses);
    const section = document.createElement("section");
    section.className = "props-with";
    section.dataset.testid = "with-form";
    if (action?.schema?.properties) {
      ctx.root = action.schema;
      section.append(objectFields("with", action.schema, step.with, (v) => { set(step, "with", v); changed(); }, ctx));
    } else {
      section.append(rawYaml("with", "with-raw", "parameters", step.with, (v) => { set(step, "with", v); changed(); }, ctx));
    }
    body.append(section);
  }

  const advanced = document.createElement("details");
  advanced.className = "props-advanced";
  advanced.open = Boolean(step.retry || step.on_error || step.needs);
  advanced.innerHTML = "<summary>advanced</summary>";
  if (ON_ERROR[kind]?.length) {
    advanced.append(field("on_error", {enum: ON_ERROR[kind], title: "on_error", description: "what a failure does"},
      step.on_error, (v) => { set(step, "on_error", v); changed(); }, ctx));
  }
  if (kind === "action") {
    advanced.append(field("retry", RETRY, typeof step.retry === "object" ? step.retry : undefined,
      (v) => { set(step, "retry", v); changed(); }, ctx));
  }
  advanced.append(field("needs", {type: "string", title: "needs", description: "ids of earlier steps to wait for, comma separated"},
    Array.isArray(step.needs) ? step.needs.join(", ") : step.needs, (v) => {
      set(step, "needs", typeof v === "string" ? v.split(/[,\s]+/).filter(Boolean) : v);
      changed();
    }, ctx));
  body.append(advanced);
  const lists = listKeysOf(step, workflow);
  if (lists.length) body.append(listFields(step, lists, {workflow, actions, changed: () => changed()}));
}

