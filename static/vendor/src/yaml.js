// The YAML parser and printer the editor uses for the canvas <-> text sync (bundled into yaml.js).
export { Document, parse, parseDocument, stringify, visit, isMap, isSeq, isScalar, LineCounter } from "yaml";
