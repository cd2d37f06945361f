// Status marks and words, the same everywhere (UI.md): colour is never the only signal.

export const MARKS = {
  pending: "○", running: "◐", retrying: "↻", succeeded: "✓", failed: "✕", skipped: "–",
  cancelled: "⊘", interrupted: "⊘", queued: "○", waiting: "◷", compensated: "↶",
};

/** The mark of a status ("?" for an unknown one). */
export function mark(status) {
  return MARKS[status] || "?";
}

/** A short human duration: 850 ms, 4.1 s, 2 min 5 s. */
export function duration(ms) {
  if (ms == null || Number.isNaN(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}
