// How many steps of the run are done, of how many there will be. A step outside any loop runs
// once; a foreach body's step runs once per item, and the foreach says how many items it has as
// it starts (foreach.progress), so the count holds the items not started yet too.

const FINAL = new Set(["succeeded", "failed", "skipped", "cancelled", "compensated"]);
const INDEX = /\[\d+\]/g;

/**
 * @param {import("./state.js").RunState} state
 * @param {{once: string[], maybe?: string[], bodies: {path: string, loop: string}[]}} plan the flow's
 *   action steps: those that run once, those that may run (a switch's cases, hooks, compensation:
 *   counted once they start), and those in a loop's body (with the loop's path)
 * @returns {{done: number, total: number, known: boolean}} known: false while a loop has not said
 *   how many items it has (the total is then a lower bound)
 */
export function stepCounts(state, plan) {
  let done = 0;
  let total = 0;
  let known = true;
  for (const path of plan.once) {
    total += 1;
    if (FINAL.has(state.steps.get(path)?.status)) done += 1;
  }
  for (const path of plan.maybe || []) {
    const status = state.steps.get(path)?.status;
    if (status === undefined) continue;
    total += 1;
    if (FINAL.has(status)) done += 1;
  }
  const expected = new Map();  // loop path -> items, over every instance of it (nested foreach)
  for (const [key, progress] of state.progress) {
    const loop = key.replace(INDEX, "");
    expected.set(loop, (expected.get(loop) || 0) + (progress.total || 0));
  }
  for (const body of plan.bodies) {
    const counts = state.items.get(body.path) || {};
    let started = 0;
    for (const [status, n] of Object.entries(counts)) {
      started += n;
      if (FINAL.has(status)) done += n;
    }
    const loopStatus = state.steps.get(body.loop)?.status;
    const items = expected.get(body.loop);
    if (items === undefined && !FINAL.has(loopStatus)) known = false;  // not started, or a repeat
    total += Math.max(items || 0, started);
  }
  return {done, total, known};
}

/** "408 of 780 steps done", "3 of at least 5 steps done". */
export function countsText({done, total, known}) {
  return `${done} of ${known ? "" : "at least "}${total} steps done`;
}
