// The run's figures in words: the same phrases as engine/stats.py (run_figures, describe_block),
// whose docstrings and docs/format.md ("Run figures") define wall, work, speed-up and saving.

const SOURCE = {parallel: "parallel branches", foreach: "foreach items"};
const ACROSS = {parallel: "branches", foreach: "items"};

/** A duration for people, as engine.stats.seconds_text: 0 s, 12 ms, 4.1 s, 2 min 5 s, 1 h 2 min. */
export function secondsText(seconds) {
  if (!(seconds > 0)) return "0 s";
  if (seconds < 0.05) return `${Math.max(Math.round(seconds * 1000), 1)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const total = Math.round(seconds);
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes} min ${total % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** work / wall when it is at least 1.05 (above 1.0 with one decimal), else null: what is called a speed-up. */
export function speedup(wallMs, workMs) {
  if (!(wallMs > 0) || !(workMs > 0)) return null;
  const ratio = workMs / wallMs;
  return ratio >= 1.05 ? ratio : null;
}

/** Whether a block's saving shows (at least 1 ms). */
function saved(block) {
  return (block.saved_ms || 0) >= 1;
}

function sources(blocks) {
  const kinds = Object.keys(SOURCE).filter((kind) => blocks.some((b) => b.kind === kind && saved(b)));
  return kinds.length ? kinds.map((k) => SOURCE[k]).join(" and ") : "steps running side by side";
}

/**
 * The run's figures as phrases: "ran in 4.1 s", "9.0 s of work", "2.2× from parallel branches"
 * or "no speed-up: …".
 * @param {{wall_ms?: number|null, work_ms?: number|null, blocks?: object[]}} summary
 * @param {boolean} running
 * @returns {string[]}
 */
export function runFigures(summary, running = false) {
  const wallMs = summary.wall_ms;
  const workMs = summary.work_ms;
  const parts = [];
  if (wallMs != null) parts.push(`${running ? "running for" : "ran in"} ${secondsText(wallMs / 1000)}`);
  if (workMs == null) return parts;
  parts.push(`${secondsText(workMs / 1000)} of work`);
  if (!wallMs || !workMs) return parts;
  const ratio = speedup(wallMs, workMs);
  if (ratio !== null) {
    parts.push(`${ratio.toFixed(1)}× from ${sources(summary.blocks || [])}`);
  } else if (workMs < 0.95 * wallMs && wallMs - workMs >= 1) {
    parts.push(`no speed-up: for at least ${secondsText((wallMs - workMs) / 1000)} no step was working`);
  } else {
    parts.push("no speed-up: steps ran one at a time");
  }
  return parts;
}

/** "loop (foreach): 3.0 s for 12.0 s of work, saved 9.0 s across items", as engine.stats.describe_block. */
export function describeBlock(block) {
  const runs = block.instances || 1;
  const peak = block.peak || 1;
  let label = block.kind || "";
  if (runs > 1) label += `, ran ${runs} times` + (peak > 1 ? `, up to ${peak} at once` : "");
  const text = `${block.path || ""} (${label}): ${secondsText((block.wall_ms || 0) / 1000)} for `
    + `${secondsText((block.work_ms || 0) / 1000)} of work`;
  if (!saved(block)) return `${text}, no time saved`;
  const across = (ACROSS[block.kind] || "steps") + (peak > 1 ? " and overlapping runs" : "");
  return `${text}, saved ${secondsText(block.saved_ms / 1000)} across ${across}`;
}

/**
 * What held the run back (the summary's `held_back`, from the critical path): its words, and
 * the figures they come from. "per_file: 2.1 s waiting for a slot of 4 — 8 would have saved ~1.0 s"
 * @param {{block?: string, cause?: string, waited_ms?: number, limit?: number, saving_ms?: number, text?: string}} entry
 * @returns {{text: string, figures: string}}
 */
export function heldBack(entry) {
  const waited = secondsText((entry.waited_ms || 0) / 1000);
  const text = entry.text || `${entry.block || "?"}: ${waited} waiting for ${entry.cause || "a slot"}` +
    `${entry.limit != null ? ` (limit ${entry.limit})` : ""}`;
  const figures = [`waited ${waited}`];
  if (entry.cause) figures.push(`cause: ${entry.cause}`);
  if (entry.limit != null) figures.push(`limit ${entry.limit}`);
  if (entry.saving_ms != null) figures.push(`saving ~${secondsText(entry.saving_ms / 1000)}`);
  return {text, figures: figures.join(" · ")};
}

/** The words of the figures line for what held the run back: "held back: 2.1 s in per_file". */
export function heldBackShort(entries) {
  const top = [...entries].sort((a, b) => (b.waited_ms || 0) - (a.waited_ms || 0)).slice(0, 2);
  if (!top.length) return "";
  return `held back: ${top.map((e) => `${secondsText((e.waited_ms || 0) / 1000)} waiting in ${e.block || "?"}`).join(", ")}`;
}
