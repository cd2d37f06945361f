// Renaming a step leaves its old id in the `${old...}` expressions, `needs` lists and bare `if:`
// expressions of the other steps (and the workflow's outputs): these find and update them, so
// the editor can offer to follow a rename with one confirm.

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;

/**
 * `expr` with every reference to `from` (an identifier not after a `.`, outside quotes) made
 * `to`; `{text, count}`.
 */
export function renameInExpression(expr, from, to) {
  let out = "";
  let count = 0;
  let i = 0;
  let lastSignificant = "";
  while (i < expr.length) {
    const c = expr[i];
    if (c === "'" || c === '"') {  // a string literal: copied as it is
      let j = i + 1;
      while (j < expr.length && expr[j] !== c) j += expr[j] === "\\" ? 2 : 1;
      out += expr.slice(i, j + 1);
      i = j + 1;
      lastSignificant = c;
      continue;
    }
    IDENT.lastIndex = i;
    const match = /[A-Za-z_]/.test(c) ? IDENT.exec(expr) : null;
    if (match) {
      const word = match[0];
      if (word === from && lastSignificant !== ".") {
        out += to;
        count += 1;
      } else {
        out += word;
      }
      i += word.length;
      lastSignificant = "a";
      continue;
    }
    out += c;
    if (!/\s/.test(c)) lastSignificant = c;
    i += 1;
  }
  return {text: out, count};
}

/** `text` with the references inside each `${...}` renamed (the whole text when `bare`: an `if`). */
function renameInText(text, from, to, bare) {
  if (bare && !text.includes("${")) return renameInExpression(text, from, to);
  let count = 0;
  const renamed = text.replace(/\$\{([^}]*)\}/g, (_, inner) => {
    const result = renameInExpression(inner, from, to);
    count += result.count;
    return `\${${result.text}}`;
  });
  return {text: renamed, count};
}

/**
 * Walk every value of the workflow model, renaming references to step `from` as `to` (with
 * `apply` false: only count them). Ids, keys and the case names of a switch are left alone.
 */
function walk(node, from, to, apply) {
  let count = 0;
  const visit = (holder, key, value, parentKey) => {
    if (typeof value === "string") {
      if (key === "id") return;
      const result = renameInText(value, from, to, key === "if" || key === "until");
      if (result.count && apply) holder[key] = result.text;
      count += result.count;
    } else if (Array.isArray(value)) {
      if (key === "needs") {
        value.forEach((entry, i) => {
          if (entry === from) { count += 1; if (apply) value[i] = to; }
        });
        return;
      }
      value.forEach((entry, i) => visit(value, i, entry, key));
    } else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) visit(value, k, v, parentKey);
    }
  };
  for (const [k, v] of Object.entries(node)) visit(node, k, v, null);
  return count;
}

/** How many references to step `from` the workflow holds. */
export function countReferences(workflow, from) {
  return from ? walk(workflow, from, from, false) : 0;
}

/** Rename every reference to step `from` as `to` in place; returns how many changed. */
export function renameReferences(workflow, from, to) {
  return walk(workflow, from, to, true);
}
