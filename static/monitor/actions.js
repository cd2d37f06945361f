// What the monitor's buttons do: cancel, re-run, resume (with the run's version or the latest),
// and restart from a step. A refusal's reason (409, 422) is shown in the banner; a new run opens
// its own monitor.
import {api} from "../common/api.js";

const RESTART_ROUTE = /\/runs\/\{[a-z_]+\}\/restart$/;

/** Whether the server can restart a run from a step (`POST /api/runs/{id}/restart`), from its OpenAPI schema. */
export async function canRestart() {
  try {
    const schema = await fetch("/api/openapi.json", {credentials: "same-origin"}).then((r) => (r.ok ? r.json() : {}));
    return Object.entries(schema.paths || {}).some(([route, ops]) => RESTART_ROUTE.test(route) && ops.post);
  } catch {
    return false;
  }
}

/** Wire the toolbar's buttons of run `runId`; returns {restart(path)} for the detail pane. */
export function mountActions(runId, {onCancelled}) {
  const banner = document.querySelector("[data-testid=run-error]");
  const say = (message) => {
    banner.textContent = message;
    banner.dataset.action = "true";
    banner.hidden = false;
  };

  async function post(action, body) {
    delete banner.dataset.action;
    const run = await api(`runs/${runId}/${action}`, {method: "POST", body});
    if (action === "cancel") onCancelled(run);
    else {
      if (run.resume) sessionStorage.setItem(`wf:resume:${run.id}`, JSON.stringify(run.resume));  // said on its page
      location.assign(`/runs/${run.id}/`);
    }
    return run;
  }

  const wire = (name, action, body, what) => document.querySelector(`[data-action=${name}]`).addEventListener("click",
    () => post(action, body).catch((err) => say(`${what}: ${err.message}`)));
  wire("cancel", "cancel", undefined, "Could not cancel");
  wire("rerun", "rerun", undefined, "Could not re-run");
  wire("resume", "resume", undefined, "Could not resume");
  wire("resume-latest", "resume", {version: "latest"}, "Could not resume with the latest version");

  return {
    /** Start a re-run from `path` (the error is the caller's to show). */
    restart: (path) => post("restart", {from_step: path}),
  };
}
