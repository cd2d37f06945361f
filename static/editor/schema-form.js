// A form generated from a JSON Schema (an action's or a skill's `with`): strings, numbers,
// booleans, enums as selects, objects and arrays as nested editors, raw YAML for the rest.
// Every field may also hold a `${...}` expression, so numbers and booleans accept text too.
import {parse, stringify} from "../vendor/yaml.js";

const LONG_TEXT = /^(query|prompt|system|code|body|text|template|expression|description)$/;
let counter = 0;

function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** The schema a `$ref` points to inside `root`. */
function deref(schema, root) {
  let s = schema || {};
  for (let i = 0; i < 10 && s.$ref; i++) {
    const path = s.$ref.replace(/^#\//, "").split("/");
    s = path.reduce((node, key) => node?.[key], root) || {};
  }
  if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) {
    const options = (s.anyOf || s.oneOf).map((o) => deref(o, root)).filter((o) => o.type !== "null");
    if (options.length === 1) return {...options[0], title: s.title || options[0].title, description: s.description || options[0].description, default: s.default};
    if (options.every((o) => ["string", "number", "integer", "boolean"].includes(o.type))) {
      return {type: "scalar", title: s.title, description: s.description, default: s.default};
    }
  }
  return s;
}

/** For a choice of a list or a mapping (merge's `values`), the one the value is (the first when
 * there is no value yet): a list editor for a list, key/values for a mapping. */
function pickOption(s, value, root) {
  const options = (s.anyOf || s.oneOf || []).map((o) => deref(o, root));
  if (!options.length || !options.every((o) => ["array", "object", "null"].includes(o.type))) return s;
  const want = Array.isArray(value) ? "array" : value && typeof value === "object" ? "object" : null;
  const chosen = options.find((o) => o.type === want) || (want === null && value === undefined ? options.find((o) => o.type !== "null") : null);
  return chosen ? {...chosen, title: s.title || chosen.title, description: s.description || chosen.description} : s;
}

function label(text, forId, hint) {
  const node = document.createElement("label");
  node.htmlFor = forId;
  node.textContent = text;
  if (hint) node.title = hint;
  return node;
}

function coerce(text, type) {
  if (text === "") return undefined;
  if ((type === "number" || type === "integer" || type === "scalar") && /^-?\d+(\.\d+)?(e-?\d+)?$/i.test(text.trim())) return Number(text);
  if (type === "scalar" && (text === "true" || text === "false")) return text === "true";
  return text;
}

/**
 * A field editing `value` (described by `schema`); `onChange(newValue)` gets `undefined`
 * when the field is cleared. `ctx` = {root, attach(input)} (completions).
 */
export function field(name, schema, value, onChange, ctx) {
  const s = pickOption(deref(schema, ctx.root), value, ctx.root);
  const id = uid("f");
  const wrap = document.createElement("div");
  wrap.className = "field";
  wrap.dataset.field = name;
  const title = s.title || name;
  const isExpr = typeof value === "string" && value.includes("${");
  if (Array.isArray(s.enum) && !isExpr) {
    const select = document.createElement("select");
    select.id = id;
    select.append(new Option(s.default !== undefined ? `(default: ${s.default})` : "—", ""));
    for (const option of s.enum) select.append(new Option(String(option), String(option)));
    select.value = value === undefined ? "" : String(value);
    select.addEventListener("change", () => onChange(select.value === "" ? undefined : s.enum.find((o) => String(o) === select.value)));
    wrap.append(label(title, id, s.description), select);
  } else if (s.type === "boolean" && !isExpr) {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = id;
    box.checked = value === undefined ? Boolean(s.default) : Boolean(value);
    box.addEventListener("change", () => onChange(box.checked));
    wrap.classList.add("field-check");
    wrap.append(box, label(title, id, s.description));
  } else if (["string", "number", "integer", "scalar", "boolean"].includes(s.type)) {
    const long = s.type === "string" && (LONG_TEXT.test(name) || (typeof value === "string" && value.includes("\n")));
    const input = document.createElement(long ? "textarea" : "input");
    input.id = id;
    if (!long) input.type = "text";
    if (s.type === "number" || s.type === "integer") input.inputMode = "decimal";
    input.value = value === undefined || value === null ? "" : String(value);
    if (s.default !== undefined && s.default !== null) input.placeholder = String(s.default);
    input.addEventListener("input", () => onChange(coerce(input.value, s.type)));
    wrap.append(label(title, id, s.description), input);
    ctx.attach?.(input);
  } else if (s.type === "object" && s.properties) {
    wrap.append(objectFields(title, s, value, onChange, ctx));
  } else if (s.type === "object" && !s.properties && (s.additionalProperties === undefined || s.additionalProperties === true || typeof s.additionalProperties === "object")) {
    wrap.append(keyValues(title, value, onChange, ctx));
  } else if (s.type === "array" && s.items) {
    wrap.append(arrayItems(title, deref(s.items, ctx.root), value, onChange, ctx));
  } else {
    wrap.append(rawYaml(title, id, s.description, value, onChange, ctx));
  }
  return wrap;
}

/** The fields of an object schema, in a fieldset. */
export function objectFields(title, schema, value, onChange, ctx) {
  const set = document.createElement("fieldset");
  const legend = document.createElement("legend");
  legend.textContent = title;
  set.append(legend);
  const current = value && typeof value === "object" && !Array.isArray(value) ? {...value} : {};
  const required = new Set(schema.required || []);
  for (const [key, sub] of Object.entries(schema.properties || {})) {
    const node = field(key, sub, current[key], (v) => {
      if (v === undefined) delete current[key];
      else current[key] = v;
      onChange(Object.keys(current).length ? {...current} : undefined);
    }, ctx);
    if (required.has(key)) {
      node.classList.add("required");
      // a default written nowhere does not apply to a required parameter: not shown as if it did
      const input = node.querySelector(":scope > input[placeholder], :scope > textarea[placeholder]");
      if (input && current[key] === undefined) input.placeholder = `required, e.g. ${input.placeholder}`;
    }
    set.append(node);
  }
  return set;
}

function keyValues(title, value, onChange, ctx) {
  const set = document.createElement("fieldset");
  set.className = "kv";
  set.innerHTML = "<legend></legend><div class=kv-rows></div>";
  set.querySelector("legend").textContent = title;
  const rows = set.querySelector(".kv-rows");
  const pairs = Object.entries(value && typeof value === "object" ? value : {}).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]);
  const emit = () => {
    const out = {};
    for (const [k, v] of pairs) if (k) out[k] = coerce(v, "scalar") ?? "";
    onChange(Object.keys(out).length ? out : undefined);
  };
  const row = (pair) => {
    const line = document.createElement("div");
    line.className = "kv-row";
    const key = Object.assign(document.createElement("input"), {value: pair[0], placeholder: "name"});
    const val = Object.assign(document.createElement("input"), {value: pair[1], placeholder: "value"});
    key.setAttribute("aria-label", `${title} name`);
    val.setAttribute("aria-label", `${title} value`);
    const del = Object.assign(document.createElement("button"), {type: "button", textContent: "×"});
    del.setAttribute("aria-label", `Remove ${title} entry`);
    key.addEventListener("input", () => { pair[0] = key.value; emit(); });
    val.addEventListener("input", () => { pair[1] = val.value; emit(); });
    del.addEventListener("click", () => { pairs.splice(pairs.indexOf(pair), 1); line.remove(); emit(); });
    line.append(key, val, del);
    ctx.attach?.(val);
    rows.append(line);
  };
  pairs.forEach(row);
  const add = Object.assign(document.createElement("button"), {type: "button", textContent: `+ ${title}`, className: "add"});
  add.addEventListener("click", () => { const pair = ["", ""]; pairs.push(pair); row(pair); });
  set.append(add);
  return set;
}

function arrayItems(title, itemSchema, value, onChange, ctx) {
  const set = document.createElement("fieldset");
  set.className = "array";
  set.innerHTML = "<legend></legend><div class=array-rows></div>";
  set.querySelector("legend").textContent = title;
  const rows = set.querySelector(".array-rows");
  const items = Array.isArray(value) ? [...value] : [];
  const emit = () => onChange(items.length ? [...items] : undefined);
  const row = (i) => {
    const line = document.createElement("div");
    line.className = "array-row";
    const holder = {index: i};
    line.append(field(`${title} ${i + 1}`, itemSchema, items[i], (v) => { items[holder.index] = v ?? ""; emit(); }, ctx));
    const del = Object.assign(document.createElement("button"), {type: "button", textContent: "×"});
    del.setAttribute("aria-label", `Remove ${title} item ${i + 1}`);
    del.addEventListener("click", () => { items.splice(holder.index, 1); emit(); redraw(); });
    line.append(del);
    rows.append(line);
  };
  const redraw = () => { rows.replaceChildren(); items.forEach((_, i) => row(i)); };
  redraw();
  const add = Object.assign(document.createElement("button"), {type: "button", textContent: `+ ${title} item`, className: "add"});
  add.addEventListener("click", () => { items.push(itemSchema.type === "object" ? {} : ""); emit(); redraw(); });
  set.append(add);
  return set;
}

/** A YAML text area for what the form cannot show; bad YAML is flagged, never applied. */
export function rawYaml(title, id, hint, value, onChange, ctx = {}) {
  const box = document.createElement("div");
  const area = document.createElement("textarea");
  area.id = id;
  area.className = "raw-yaml";
  area.value = value === undefined ? "" : stringify(value, {lineWidth: 0}).trimEnd();
  const note = document.createElement("span");
  note.className = "field-error";
  note.setAttribute("role", "status");
  area.addEventListener("input", () => {
    try {
      const parsed = area.value.trim() === "" ? undefined : parse(area.value);
      note.textContent = "";
      area.removeAttribute("aria-invalid");
      onChange(parsed);
    } catch (err) {
      note.textContent = `not valid YAML: ${err.message.split("\n")[0]}`;
      area.setAttribute("aria-invalid", "true");
    }
  });
  box.append(label(`${title} (YAML)`, id, hint), area, note);
  ctx.attach?.(area);
  return box;
}

/** The defaults of the parameters a schema requires: a new step starts with them written, so it
 * is valid as dropped and its form shows them as values, not as placeholders. */
export function requiredDefaults(schema) {
  const out = {};
  for (const key of schema?.required || []) {
    const spec = schema.properties?.[key];
    if (spec && spec.default !== undefined) out[key] = structuredClone(spec.default);
  }
  return out;
}
