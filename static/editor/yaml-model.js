// The workflow model and its YAML text, both ways. Text to model: parse, or say where the
// syntax is wrong. Model to text: written over the text it replaces, so what did not change
// keeps its comments, blank lines, quoting and flow style, and a step keeps them wherever it
// moves (steps are matched by their id). A list or mapping that was empty (`steps: []`, as a
// new workflow starts) is written in block style once it holds something: every edit then
// lands on its own line, and so do the lint markers.
import {Document, isMap, isScalar, isSeq, parseDocument, visit} from "../vendor/yaml.js";

// Strings the server's YAML 1.1 reader (PyYAML) would read as something else: yes/no/on/off,
// 1_000, 12:30 (sexagesimal), 0b101... The printer quotes them so a round trip keeps them strings.
const YAML11_NOT_STRING = /^(?:y|n|yes|no|on|off|=)$|^[-+]?(?=.*[0-9])[0-9._:]+(?:e[-+]?[0-9]+)?$|^0[bx][0-9a-f_]+$/i;

/** Parse YAML for the canvas: {workflow} or {error: {line, column, message}}. */
export function parseYaml(text) {
  const doc = parseDocument(text, {prettyErrors: true});
  if (doc.errors.length) {
    const err = doc.errors[0];
    const pos = err.linePos?.[0] || {line: 1, col: 1};
    return {error: {line: pos.line, column: pos.col, path: "", message: err.message.split("\n")[0]}};
  }
  const value = doc.toJS();
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    return {error: {line: 1, column: 1, path: "", message: "a workflow is a mapping with `steps`"}};
  }
  if (value.steps !== undefined && !Array.isArray(value.steps)) {
    return {error: {line: 1, column: 1, path: "steps", message: "`steps` must be a list"}};
  }
  return {workflow: value};
}

const isPlainObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

/** Each step mapping of `doc` by its id (ids given twice are left out: they match nothing). */
function stepsById(doc) {
  const found = new Map();
  const twice = new Set();
  visit(doc, {
    Map(_, node) {
      const id = node.get("id");
      if (typeof id !== "string") return;
      if (found.has(id)) twice.add(id);
      found.set(id, node);
    },
  });
  for (const id of twice) found.delete(id);
  return found;
}

/** Keep what surrounds `old` (comments, blank line before) on its replacement. */
function carry(old, node) {
  if (old && node && old !== node) {
    for (const key of ["commentBefore", "comment", "spaceBefore"]) {
      if (old[key] !== undefined && node[key] === undefined) node[key] = old[key];
    }
  }
  return node;
}

class Merger {
  constructor(doc) {
    this.doc = doc;
    this.byId = stepsById(doc);
    this.used = new Set();
  }

  /** A node for `value`, made from `old` (a node of the previous text, or undefined) where it fits. */
  node(old, value) {
    const id = isPlainObject(value) && typeof value.id === "string" ? value.id : undefined;
    if (id !== undefined && this.byId.has(id)) old = this.byId.get(id);  // the step, wherever it was
    else if (isMap(old) && typeof old.get("id") === "string" && old.get("id") !== id) old = undefined;  // another step
    if (old && this.used.has(old)) old = undefined;  // a node is printed in one place only
    if (old) this.used.add(old);
    // new collections are built item by item, so that steps moved into them are found by id
    if (isPlainObject(value)) return this.map(isMap(old) ? old : carry(old, this.doc.createNode({})), value);
    if (Array.isArray(value)) return this.seq(isSeq(old) ? old : carry(old, this.doc.createNode([])), value);
    if (isScalar(old) && old.value === value) return old;
    return carry(old, this.fresh(value));
  }

  map(node, value) {
    unflow(node, value);
    const pairs = new Map(node.items.map((pair) => [isScalar(pair.key) ? String(pair.key.value) : pair.key, pair]));
    node.items = Object.entries(value).filter(([, v]) => v !== undefined).map(([key, v]) => {
      const pair = pairs.get(key);
      if (!pair) return this.doc.createPair(key, this.node(undefined, v));
      pair.value = this.node(pair.value ?? undefined, v);
      return pair;
    });
    return node;
  }

  seq(node, value) {
    unflow(node, value);
    const old = node.items;
    node.items = value.map((v, i) => this.node(old[i], v));
    return node;
  }

  fresh(value) {
    const node = this.doc.createNode(value);
    visit(node, {
      Scalar(_, scalar) {
        if (typeof scalar.value === "string" && !scalar.type && YAML11_NOT_STRING.test(scalar.value)) {
          scalar.type = "QUOTE_DOUBLE";
        }
      },
    });
    return node;
  }
}

/** An empty flow collection (`[]`, `{}`) that gains items turns to block style (flow style
 * the person wrote with items in it stays as written). */
function unflow(node, value) {
  const size = Array.isArray(value) ? value.length : Object.keys(value).length;
  if (node.flow && node.items.length === 0 && size > 0) node.flow = false;
}

let last = {text: null, doc: null};  // the last text printed and its document: typing skips a parse

/** `workflow` (plain data) as YAML, keeping all it can of `previous` (the text it replaces). */
export function printYaml(workflow, previous) {
  const before = !previous ? null : previous === last.text ? last.doc : parseDocument(previous);
  const doc = before && !before.errors.length && isMap(before.contents) ? before : new Document({});
  doc.contents = new Merger(doc).map(doc.contents, workflow);
  // no padding inside flow collections: `{id: a}` stays as written, not `{ id: a }` on every edit
  const text = doc.toString({lineWidth: 0, flowCollectionPadding: false});
  last = {text, doc};
  return text;
}

/**
 * The line and column of the value at `path` (`name`, `steps[2].with.url`) in `text`, or null
 * when the text does not hold it: where a marker belongs when the server's position is not
 * on it (its line 1 is a comment after an import).
 */
export function locate(text, path) {
  if (!path) return null;
  const doc = parseDocument(text);
  if (doc.errors.length) return null;
  const keys = [];
  for (const part of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) keys.push(part[2] !== undefined ? Number(part[2]) : part[1]);
  let node = doc.contents;
  let place = null;
  for (const key of keys) {
    if (!node || !(isMap(node) || isSeq(node))) break;
    const pair = isMap(node) ? node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key)) : null;
    if (isMap(node) && !pair) break;
    place = pair ? pair.key.range?.[0] : node.items[key]?.range?.[0];
    node = pair ? pair.value : node.items[key];
    if (place === undefined) return null;
  }
  if (place === null || place === undefined) return null;
  const before = text.slice(0, place).split("\n");
  return {line: before.length, column: before[before.length - 1].length + 1};
}

/** `issue` with its marker on the line of the key it names, when the server placed it elsewhere
 * (a blank or comment line: a name clash is found after the YAML is read, at its line 1). */
export function onItsLine(text, issue) {
  const row = text.split("\n")[(issue.line || 1) - 1] ?? "";
  if (issue.path && (!row.trim() || row.trim().startsWith("#") || issue.line < 1)) {
    const place = locate(text, issue.path);
    if (place) return {...issue, ...place};
  }
  return issue;
}
