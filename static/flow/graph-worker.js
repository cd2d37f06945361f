// Lays out big needs graphs off the main thread (graph.js sends what it measured).
import {compute} from "./graph.js";

self.addEventListener("message", ({data}) => {
  self.postMessage({key: data.key, result: compute(data.sizes, data.edges)});
});
