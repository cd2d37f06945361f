// The YAML pane: CodeMirror 6 with YAML highlighting, reference completions and the server's
// validation errors as lint markers at their line and column.
import {autocompletion, basicSetup, EditorView, keymap, lintGutter, setDiagnostics, yaml} from "../vendor/codemirror.js";

/**
 * Mount the editor in `parent`. `onText(text)` runs after each edit by the person (not after
 * setText); `references()` gives the names offered after `${`.
 */
export function mountYaml(parent, text, {onText, references, onSave}) {
  let quiet = false;
  const complete = (context) => {
    const word = context.matchBefore(/\$\{[A-Za-z0-9_.]*/);
    if (!word) return null;
    return {from: word.from + 2, options: references().map((label) => ({label, type: "variable"})), validFor: /^[A-Za-z0-9_.]*$/};
  };
  const view = new EditorView({
    doc: text,
    parent,
    extensions: [
      basicSetup,
      yaml(),
      lintGutter(),
      autocompletion({override: [complete]}),
      keymap.of([{key: "Mod-s", preventDefault: true, run: () => { onSave?.(); return true; }}]),
      // tabindex: the scroller then holds a focusable element axe-core recognises (keyboard access to it)
      EditorView.contentAttributes.of({"aria-label": "Workflow YAML", "data-testid": "yaml-editor", tabindex: "0"}),
      EditorView.updateListener.of((update) => {
        if (update.docChanged && !quiet) onText(update.state.doc.toString());
      }),
    ],
  });
  return {
    view,
    /** The text now in the pane. */
    getText: () => view.state.doc.toString(),
    /** Replace the text (from the canvas), keeping the cursor where it can stay. */
    setText(next) {
      const current = view.state.doc.toString();
      if (next === current) return;
      let from = 0;
      while (from < current.length && from < next.length && current[from] === next[from]) from++;
      let endA = current.length;
      let endB = next.length;
      while (endA > from && endB > from && current[endA - 1] === next[endB - 1]) { endA--; endB--; }
      quiet = true;
      try {
        view.dispatch({changes: {from, to: endA, insert: next.slice(from, endB)}});
      } finally {
        quiet = false;
      }
    },
    /** Show `issues` ({line, column, message}) as lint markers. */
    showIssues(issues) {
      const doc = view.state.doc;
      const diagnostics = issues.map((issue) => {
        const line = doc.line(Math.min(Math.max(issue.line || 1, 1), doc.lines));
        const from = Math.min(line.from + Math.max((issue.column || 1) - 1, 0), line.to);
        const to = Math.max(from, Math.min(line.to, from + 40));
        return {from, to: to === from ? Math.min(from + 1, doc.length) : to, severity: issue.severity || "error",
          message: issue.path ? `${issue.path}: ${issue.message}` : issue.message};
      });
      view.dispatch(setDiagnostics(view.state, diagnostics));
    },
  };
}
