// A `workflow` step's own steps (a sub-workflow): opened in place under its card, or as their
// own view (`#sub=<step path>`). The child's steps are recorded in this run under the step's path
// (`report.fetch`); what they are comes from `GET /api/runs/{id}/subrun` (builder/monitor_api.py),
// the YAML of the version the step ran.
import {api} from "../common/api.js";
import {parse} from "../vendor/yaml.js";
import {renderFlow} from "../flow/render.js";
import {prefixPaths} from "./flow.js";

/** The child workflow a `workflow` step ran: {path, name, version, yaml, workflow} (workflow parsed). */
export async function loadSubrun(runId, path) {
  const data = await api(`runs/${runId}/subrun?path=${encodeURIComponent(path)}`);
  let workflow;
  try {
    workflow = parse(data.yaml) || {steps: []};
  } catch {
    workflow = {steps: []};
  }
  return {...data, workflow};
}

/** Is `card` a `workflow` step (a sub-workflow)? `steps` maps cards to their YAML steps. */
function isSubflow(card, steps) {
  return card.classList.contains("card-action") && steps.get(card)?.uses === "workflow";
}

/**
 * Give every `workflow` card in `scope` a button that opens its steps in place and a link to
 * their own view. `steps`: renderFlow's cards map (card → step); `onOpened(byPath, box)` once a
 * child is drawn (the caller repaints and adds timeline rows).
 */
export function decorateSubflows(scope, steps, runId, onOpened) {
  for (const card of scope.querySelectorAll(".card-action")) {
    if (!isSubflow(card, steps) || card.querySelector(":scope > .subflow-bar")) continue;
    const path = card.dataset.path;
    const bar = document.createElement("div");
    bar.className = "subflow-bar";
    const toggle = Object.assign(document.createElement("button"), {type: "button", className: "link",
      textContent: `▸ show the steps of ${card.dataset.id}`});
    toggle.dataset.subflowToggle = path;
    toggle.dataset.testid = "subflow-toggle";
    toggle.setAttribute("aria-expanded", "false");
    const own = Object.assign(document.createElement("a"), {href: `#sub=${encodeURIComponent(path)}`,
      textContent: "open as its own view"});
    own.dataset.testid = "subflow-open";
    own.addEventListener("click", (e) => {  // the page draws another flow: load it afresh
      e.preventDefault();
      location.hash = own.getAttribute("href");
      location.reload();
    });
    const box = document.createElement("div");
    box.className = "subflow";
    box.dataset.testid = "subflow";
    box.hidden = true;
    bar.append(toggle, " · ", own);
    card.append(bar, box);
    toggle.addEventListener("click", async () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = `${open ? "▾ hide" : "▸ show"} the steps of ${card.dataset.id}`;
      box.hidden = !open;
      if (!open || box.dataset.loaded) return;
      box.dataset.loaded = "true";
      box.textContent = "loading…";
      try {
        const sub = await loadSubrun(runId, path);
        const title = document.createElement("p");
        title.className = "subflow-title muted";
        title.textContent = `${sub.name} v${sub.version} (sub-workflow)`;
        const canvas = document.createElement("div");
        canvas.className = "subflow-canvas";
        box.replaceChildren(title, canvas);
        const ctx = renderFlow(canvas, sub.workflow, {editable: false});
        const byPath = prefixPaths(canvas, ctx.byPath, path);
        for (const [node, step] of ctx.cards) steps.set(node, step);
        decorateSubflows(canvas, steps, runId, onOpened);  // nested sub-workflows open the same way
        onOpened(byPath, canvas);
      } catch (err) {
        box.dataset.loaded = "";
        box.replaceChildren(Object.assign(document.createElement("p"), {className: "field-error", textContent: err.message}));
      }
    });
  }
}
