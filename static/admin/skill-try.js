// "Try it": the sample inputs as a form from the skill's input schema (the editor's schema
// forms), written as JSON into the field the server reads; then the run's status, output and
// error, asked from the API until the run has ended.
import {objectFields} from "../editor/schema-form.js";

const schema = JSON.parse(document.getElementById("input-schema")?.textContent || "{}");
const FINISHED = new Set(["succeeded", "failed", "cancelled", "interrupted", "skipped"]);

function sampleForm() {
  const holder = document.getElementById("sample-form");
  const area = document.getElementById("id_sample");
  if (!holder || !area) return;
  let value = {};
  try {
    value = JSON.parse(area.value || "{}");
  } catch {
    return; // the text as it is, in its own field (a refused sample is shown back)
  }
  const described = schema && typeof schema === "object" && schema.properties ? schema : {type: "object", properties: {}};
  if (!Object.keys(described.properties).length) {
    holder.textContent = "This skill declares no inputs: run it as it is, or give a JSON object below.";
    return;
  }
  const form = objectFields("Sample inputs", described, value, (next) => {
    area.value = JSON.stringify(next ?? {}, null, 2);
  }, {root: described});
  holder.replaceChildren(form);
}

/** Ask the API for the run until it has ended; show its status, output and error. */
async function follow() {
  const box = document.querySelector("[data-testid=try-result]");
  if (!box) return;
  for (let i = 0; i < 600 && !FINISHED.has(box.dataset.status); i++) {
    await new Promise((resolve) => setTimeout(resolve, i < 20 ? 150 : 1000));
    const response = await fetch(`/api/runs/${box.dataset.run}`, {headers: {Accept: "application/json"}});
    if (!response.ok) break;
    const run = await response.json();
    box.dataset.status = run.status;
    box.querySelector("[data-testid=try-status]").textContent = run.status;
    box.querySelector("[data-testid=try-duration]").textContent = run.duration_ms == null ? "" : `in ${Math.round(run.duration_ms)} ms`;
    const output = run.outputs == null ? "" : JSON.stringify(run.outputs, null, 2);
    box.querySelector("[data-testid=try-output]").textContent = output;
    box.querySelector("[data-part=output]").hidden = !output;
    box.querySelector("[data-testid=try-error]").textContent = run.error || "";
    box.querySelector("[data-part=error]").hidden = !run.error;
  }
}

sampleForm();
follow();
document.body.dataset.skillTry = "ready";
