// The one CodeMirror 6 entry point the editor imports (bundled by build.sh into codemirror.js).
export { basicSetup, EditorView } from "codemirror";
export { EditorState, Compartment } from "@codemirror/state";
export { keymap } from "@codemirror/view";
export { yaml } from "@codemirror/lang-yaml";
export { linter, lintGutter, setDiagnostics, forEachDiagnostic } from "@codemirror/lint";
export { autocompletion } from "@codemirror/autocomplete";
