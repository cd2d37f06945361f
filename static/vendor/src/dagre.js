// The layered-graph layout the flow uses for `needs` lists (bundled by build.sh into dagre.js).
export { graphlib, layout } from "@dagrejs/dagre";
