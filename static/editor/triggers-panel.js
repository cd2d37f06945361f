// The workflow form's "Triggers" panel: the YAML's schedules and webhooks, edited in the model
// like the inputs (only what is touched changes in the YAML); a schedule's cron in words with
// its next 5 fire times (the server's describe endpoint, debounced); a webhook's token made or
// rotated for the saved version and shown once; the workflow's triggers on/off switch.
import {api} from "../common/api.js";
import {field} from "./schema-form.js";
import {el, set} from "./model-edit.js";

const ID = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
const DESCRIBE_DELAY = 300;
const editorData = () => JSON.parse(document.getElementById("editor-data")?.textContent || "{}");

/** The saved workflow's triggers_enabled and its current version's triggers, asked once per save. */
let saved = null;
function savedInfo({fresh = false} = {}) {
  const {id} = editorData();
  if (!id) return Promise.resolve({triggers_enabled: true, triggers: []});
  if (!saved || fresh) saved = api(`workflows/${id}`).catch(() => (saved = null, {triggers_enabled: true, triggers: []}));
  return saved;
}

// a save changes which webhooks have a saved version (so can get a token): ask again after one
let refreshTokens = () => {};
const versionState = document.querySelector("[data-testid=version-state]");
if (versionState) {
  new MutationObserver(() => {
    if (versionState.dataset.dirty === "false") savedInfo({fresh: true}).then(() => refreshTokens());
  }).observe(versionState, {childList: true, characterData: true, subtree: true});
}

function stylesheet() {
  if (document.querySelector("link[data-triggers-css]")) return;
  // the editor page's template is shared: the panel brings the few rules it needs
  const link = Object.assign(document.createElement("link"), {rel: "stylesheet", href: new URL("../css/triggers.css", import.meta.url).href});
  link.dataset.triggersCss = "";
  document.head.append(link);
}

/** A fire time as people read it, on the clock of the schedule's timezone. */
function when(iso, zone) {
  try {
    return new Intl.DateTimeFormat(undefined, {timeZone: zone, weekday: "short", year: "numeric", month: "short",
      day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"}).format(new Date(iso));
  } catch {
    return iso;
  }
}

/** The describe line and next times of one schedule, asked again 300 ms after its last edit. */
function describer(box) {
  const words = el("p", {className: "cron-words"});
  words.dataset.testid = "cron-text";
  words.setAttribute("aria-live", "polite");
  const next = el("ol", {className: "cron-next"});
  next.dataset.testid = "cron-next";
  next.setAttribute("aria-label", "next fire times");
  box.append(words, next);
  let timer = null;
  let pending = null;
  return (trigger) => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      pending?.abort();
      pending = new AbortController();
      const zone = trigger.timezone || "UTC";
      const query = new URLSearchParams({cron: String(trigger.schedule ?? ""), timezone: String(zone)});
      try {
        const answer = await api(`schedules/describe?${query}`, {signal: pending.signal});
        words.className = answer.problem ? "cron-words field-error" : "cron-words";
        words.textContent = answer.problem ? `${answer.text} — ${answer.problem}` : `${answer.text} (${zone})`;
        next.replaceChildren(...answer.next.map((iso) => el("li", {}, el("time", {dateTime: iso, textContent: when(iso, zone), title: iso}))));
      } catch (err) {
        if (err.name === "AbortError") return;
        words.className = "cron-words field-error";
        words.textContent = err.message;
        next.replaceChildren();
      }
    }, DESCRIBE_DELAY);
  };
}

/** A webhook's token: made or rotated for the saved version, shown once with its URL. */
function tokenPart(box, trigger) {
  const part = el("div", {className: "token"});
  const button = el("button", {type: "button"});
  button.dataset.testid = "token-button";
  const note = el("p", {className: "muted small"});
  const shown = el("div", {className: "token-once", hidden: true});
  shown.dataset.testid = "token-once";
  part.append(button, note, shown);
  box.append(part);
  let row = null;
  const draw = async () => {
    const info = await savedInfo();
    row = info.triggers.find((t) => t.id === trigger.id && t.kind === "webhook") || null;
    button.textContent = row?.token_hint ? "Rotate token" : "Create token";
    button.disabled = !row;
    note.textContent = !row ? "Save the workflow with this webhook to make its token."
      : row.token_hint ? `Its token ends in …${row.token_hint}; a new one stops the old one at once.`
        : "No token yet: POST /hooks/<token>/ starts a run.";
  };
  button.addEventListener("click", async () => {
    if (!row) return;
    button.disabled = true;
    try {
      const made = await api(`workflows/${editorData().id}/triggers/${encodeURIComponent(trigger.id)}/token`, {method: "POST"});
      const url = new URL(made.url, location.origin).href;
      shown.replaceChildren(
        el("p", {textContent: "Shown once: copy it now. Only its hash is kept."}),
        copyRow("URL", url), copyRow("token", made.token));
      shown.hidden = false;
      saved = null;  // its hint changed
      await draw();
    } catch (err) {
      note.textContent = `No token: ${err.message}`;
      button.disabled = false;
    }
  });
  draw();
  return draw;
}

function copyRow(name, value) {
  const input = el("input", {type: "text", readOnly: true, value});
  input.setAttribute("aria-label", `webhook ${name}`);
  input.dataset.testid = `token-${name.toLowerCase()}`;
  const copy = el("button", {type: "button", textContent: "Copy"});
  copy.setAttribute("aria-label", `Copy the ${name}`);
  copy.addEventListener("click", async () => {
    input.select();
    try { await navigator.clipboard.writeText(value); copy.textContent = "Copied"; } catch { copy.textContent = "Select and copy"; }
  });
  return el("div", {className: "copy-row"}, el("span", {textContent: name}), input, copy);
}

/** The triggers on/off switch: the workflow's setting, saved at once (not part of the YAML). */
function enableSwitch() {
  const input = el("input", {type: "checkbox", disabled: true});
  input.setAttribute("role", "switch");
  input.dataset.testid = "triggers-enabled";
  const text = el("span", {textContent: "Triggers on"});
  const note = el("p", {className: "muted small trigger-off", hidden: true,
    textContent: "Off for the saved workflow: schedules do not fire and webhooks answer 404. Run, the CLI and the API still start runs."});
  const wrap = el("div", {}, el("label", {className: "switch"}, input, text), note);
  const show = (on) => {
    input.checked = on;
    text.textContent = on ? "Triggers on" : "Triggers off";
    note.hidden = on;
  };
  const {id} = editorData();
  savedInfo().then((info) => { show(info.triggers_enabled); input.disabled = !id; });
  input.addEventListener("change", async () => {
    input.disabled = true;
    try {
      const answer = await api(`workflows/${id}/triggers/enabled`, {method: "POST", body: {enabled: input.checked}});
      show(answer.triggers_enabled);
      saved = Promise.resolve(answer);
    } catch (err) {
      show(!input.checked);
      text.textContent += ` (not changed: ${err.message})`;
    } finally {
      input.disabled = false;
    }
  });
  return wrap;
}

/** Append the Triggers panel for `workflow` (its model, edited in place) to `body`; `onChange()` after each edit. */
export function showTriggers(body, workflow, onChange) {
  stylesheet();
  const section = el("section", {className: "props-triggers"});
  section.dataset.testid = "triggers-form";
  section.append(el("h3", {textContent: "Triggers"}), enableSwitch());
  const list = el("div");
  const addSchedule = el("button", {type: "button", textContent: "+ schedule", className: "add"});
  const addWebhook = el("button", {type: "button", textContent: "+ webhook", className: "add"});
  section.append(list, el("div", {className: "trigger-adds"}, addSchedule, addWebhook));
  const refreshers = [];
  refreshTokens = () => refreshers.forEach((f) => f());  // the panel shown now (a redraw makes a new one)

  const triggers = () => (Array.isArray(workflow.triggers) ? workflow.triggers : []);
  const draw = () => {
    list.replaceChildren();
    refreshers.length = 0;
    if (!triggers().length) list.append(el("p", {className: "muted", textContent: "No triggers: runs start from Run, the CLI or the API."}));
    triggers().forEach((trigger, index) => {
      if (!trigger || typeof trigger !== "object") return;
      list.append(triggerBox(trigger, index));
    });
  };

  const triggerBox = (trigger, index) => {
    const webhook = trigger.webhook === true;
    const box = el("fieldset", {className: "trigger"});
    box.dataset.trigger = trigger.id ?? "";
    const name = el("span", {textContent: trigger.id ?? ""});
    box.append(el("legend", {}, el("span", {className: "muted", textContent: webhook ? "webhook " : "schedule "}), name));
    const ctx = {root: {}};
    const view = el("div", {className: "cron-view"});
    const remove = el("button", {type: "button", textContent: `Remove ${trigger.id ?? "trigger"}`});
    const describe = webhook ? null : describer(view);
    box.append(field("id", {type: "string", title: "id", description: "letters, digits and _; unique among the triggers"}, trigger.id, (v) => {
      if (!v || !ID.test(v) || triggers().some((t, i) => i !== index && t?.id === v)) return;
      trigger.id = v;
      name.textContent = v;
      remove.textContent = `Remove ${v}`;
      box.dataset.trigger = v;
      onChange();
    }, ctx));
    if (webhook) {
      box.append(field("secret", {type: "string", title: "secret", description: "optional: the name of a secret that signs the body (HMAC)"},
        trigger.secret, (v) => { set(trigger, "secret", v); onChange(); }, ctx));
    } else {
      box.append(field("cron", {type: "string", title: "cron", description: "5 fields: minute hour day-of-month month day-of-week"},
        trigger.schedule, (v) => { trigger.schedule = v ?? ""; onChange(); describe(trigger); }, ctx));
      const zone = field("timezone", {type: "string", title: "timezone", default: "UTC", description: "an IANA name: Europe/Paris"},
        trigger.timezone, (v) => { set(trigger, "timezone", v); onChange(); describe(trigger); }, ctx);
      zone.querySelector("input")?.setAttribute("list", zoneList());
      box.append(zone, view, field("catch_up", {type: "boolean", title: "catch up missed slots", description: "run each slot missed while nothing ran (else skipped, noted)"},
        trigger.catch_up, (v) => { set(trigger, "catch_up", v || undefined); onChange(); }, ctx));
    }
    box.append(field("inputs", {type: "object", title: "inputs"}, trigger.inputs, (v) => { set(trigger, "inputs", v); onChange(); }, ctx));
    if (webhook) refreshers.push(tokenPart(box, trigger));
    else describe(trigger);
    remove.addEventListener("click", () => {
      const all = triggers();
      all.splice(all.indexOf(trigger), 1);
      if (!all.length) delete workflow.triggers;
      onChange();
      draw();
    });
    box.append(remove);
    return box;
  };

  const add = (make) => {
    workflow.triggers = triggers();
    const taken = new Set(workflow.triggers.map((t) => t?.id));
    let n = 1;
    while (taken.has(`${make.prefix}_${n}`)) n++;
    workflow.triggers.push({id: `${make.prefix}_${n}`, ...make.fields});
    onChange();
    draw();
    list.lastElementChild?.querySelector("input")?.focus();
  };
  addSchedule.addEventListener("click", () => add({prefix: "schedule", fields: {schedule: "0 * * * *"}}));
  addWebhook.addEventListener("click", () => add({prefix: "webhook", fields: {webhook: true}}));
  draw();
  body.append(section);
}

/** The id of a datalist of the browser's timezones (made once), for the timezone fields. */
function zoneList() {
  if (!document.getElementById("tz-names")) {
    const names = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    document.body.append(el("datalist", {id: "tz-names"}, ...["UTC", ...names].map((n) => el("option", {value: n}))));
  }
  return "tz-names";
}
