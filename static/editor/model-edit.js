// The small helpers the editor's forms share: an element from properties, and edits of the
// YAML model in place that keep its key order (the printed YAML follows the model's order).

/** An element with its properties set (`className`, `textContent`, ...) and children appended. */
export function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** Set `owner[key]`, or remove the key when the value is empty (the YAML leaves it out). */
export function set(owner, key, value) {
  if (value === undefined || value === "") delete owner[key];
  else owner[key] = value;
}

/** Rename a key of `map` keeping its place (the YAML keeps the cases' and inputs' order). */
export function renameKey(map, from, to) {
  const entries = Object.entries(map).map(([k, v]) => [k === from ? to : k, v]);
  for (const key of Object.keys(map)) delete map[key];
  for (const [k, v] of entries) map[k] = v;
}
