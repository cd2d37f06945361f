// The timeline's legend: what its colours, bands and marks mean, on the page (not only in a
// tooltip). Each swatch has its word and mark beside it: colour is never the only signal.
import {mark} from "../common/status.js";

const STATUSES = ["running", "retrying", "succeeded", "failed", "waiting", "compensated", "cancelled", "skipped"];

function item(swatchClass, text, status) {
  const li = document.createElement("li");
  const swatch = document.createElement("span");
  swatch.className = `tl-swatch ${swatchClass}`;
  if (status) swatch.dataset.status = status;
  swatch.setAttribute("aria-hidden", "true");
  li.append(swatch, text);
  return li;
}

/** The legend element (a list under the timeline). */
export function legend() {
  const list = document.createElement("ul");
  list.className = "tl-legend";
  list.dataset.testid = "timeline-legend";
  list.setAttribute("aria-label", "Timeline legend");
  for (const status of STATUSES) list.append(item("", `${mark(status)} ${status}`, status));
  list.append(
    item("band-sample", "foreach items: darker where more item steps finished at once"),
    item("attempts-sample", "a retried step: one bar per attempt, the gap is the wait before the next"),
    item("critical-sample", "◆ critical path: the steps that set the run's wall time"),
    item("reused-sample", "reused from the resumed run (not run again)"),
  );
  return list;
}
