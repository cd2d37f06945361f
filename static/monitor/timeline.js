// The timeline (Gantt): one row per step on a shared time axis, bars coloured by status,
// a moving "now" line while the run goes on. Bars are placed with CSS variables so a longer
// axis changes one variable on the container, not every bar.
import {duration, mark} from "../common/status.js";

const ACTIVE = new Set(["running", "retrying"]);
const BUCKETS = 40;

/** A foreach's items drawn as a density band: darker where more of them finished. */
function band(times, from, to) {
  const width = Math.max(to - from, 1e-3);
  const counts = new Array(BUCKETS).fill(0);
  for (const t of times) counts[Math.min(BUCKETS - 1, Math.max(0, Math.floor(((t - from) / width) * BUCKETS)))] += 1;
  const top = Math.max(...counts) || 1;
  const stops = counts.map((n, i) => {
    const alpha = n ? 0.25 + 0.75 * (n / top) : 0;
    return `rgba(26,127,55,${alpha.toFixed(2)}) ${(i * 100) / BUCKETS}% ${((i + 1) * 100) / BUCKETS}%`;
  });
  return `linear-gradient(90deg, ${stops.join(", ")})`;
}

function niceStep(span) {
  const raw = span / 6;
  const pow = 10 ** Math.floor(Math.log10(raw || 1));
  return [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) || pow * 10;
}

/** Mount the timeline in `root` with one row per path of `rows` ([{path, label, depth}]). */
export function mountTimeline(root, rows, {onSelect}) {
  root.replaceChildren();
  const axis = document.createElement("div");
  axis.className = "tl-axis";
  axis.setAttribute("aria-hidden", "true");
  const body = document.createElement("div");
  body.className = "tl-body";
  body.setAttribute("role", "list");
  body.setAttribute("aria-label", "Timeline of the steps");
  const now = document.createElement("div");
  now.className = "tl-now";
  now.dataset.testid = "timeline-now";
  body.append(now);
  const bars = new Map();
  for (const row of rows) {
    const line = document.createElement("div");
    line.className = "tl-row";
    line.setAttribute("role", "listitem");
    line.dataset.path = row.path;
    const label = document.createElement("button");
    label.type = "button";
    label.className = "tl-label";
    label.style.paddingLeft = `${0.3 + row.depth * 0.8}rem`;
    label.textContent = row.label;
    label.title = row.path;
    const track = document.createElement("div");
    track.className = "tl-track";
    const bar = document.createElement("div");
    bar.className = "tl-bar";
    bar.dataset.testid = "timeline-bar";
    bar.setAttribute("role", "img");
    bar.dataset.path = row.path;
    bar.hidden = true;
    track.append(bar);
    line.append(label, track);
    body.append(line);
    bars.set(row.path, bar);
  }
  root.append(axis, body);
  root.addEventListener("click", (e) => {
    const row = e.target.closest(".tl-row");
    if (row) onSelect(row.dataset.path);
  });

  let span = 1;
  let t0 = null;
  let shownScale = "";
  let grown = 0;
  const banded = new Map();  // path -> when its band was last drawn (throttled: 2 a second)
  let ticksFor = -1;

  function drawAxis() {
    if (ticksFor === span) return;
    ticksFor = span;
    const step = niceStep(span);
    const ticks = [];
    for (let t = 0; t <= span + 1e-9; t += step) {
      const tick = document.createElement("span");
      tick.style.left = `${(t / span) * 100}%`;
      tick.textContent = `${+t.toFixed(3)}s`;
      ticks.push(tick);
    }
    axis.replaceChildren(...ticks);
  }

  return {
    /**
     * Redraw: `steps` is the RunState's map; `changed` the paths to redraw (null: all);
     * `clock` the time now (or the run's end).
     */
    update(state, changed, clock) {
      const start = state.run.started_at ?? null;
      if (start === null) return;
      if (t0 !== start) { t0 = start; changed = null; }
      const end = state.run.finished_at || clock;
      // the axis grows in steps (with headroom), so the bars' scale changes a few times a run
      const elapsed = Math.max(end - t0, 0.001);
      if (state.run.finished_at) span = elapsed * 1.02;
      else if (elapsed > span || elapsed < span / 4) span = elapsed * 1.5;
      const scale = String(100 / span);
      if (scale !== shownScale) {
        shownScale = scale;
        root.style.setProperty("--scale", scale);
      }
      drawAxis();
      const paths = new Set(changed ? [...changed].filter((p) => bars.has(p)) : bars.keys());
      if (clock - grown >= 0.25 || state.run.finished_at) {  // running bars grow 4 times a second
        grown = clock;
        for (const path of bars.keys()) {
          if (ACTIVE.has(state.steps.get(path)?.status)) paths.add(path);
        }
      }
      for (const path of paths) {
        const bar = bars.get(path);
        let step = state.steps.get(path);
        const times = state.itemTimes.get(path);
        if (!step && times?.length) {  // a foreach body step: its items, first to last
          const counts = state.items.get(path) || {};
          step = {status: counts.running ? "running" : counts.failed ? "failed" : "succeeded", attempts: 1,
            started: Math.min(...times.slice(0, 50)) - 0.001, finished: times[times.length - 1]};
        }
        if (!step || step.started === null) { bar.hidden = true; continue; }
        const a = step.started - t0;
        const b = (step.finished ?? (ACTIVE.has(step.status) ? end : step.started)) - t0;
        bar.hidden = false;
        bar.dataset.status = step.status;
        bar.style.setProperty("--t0", a.toFixed(4));
        bar.style.setProperty("--t1", Math.max(b, a).toFixed(4));
        bar.title = `${path}: ${mark(step.status)} ${step.status}\nstart +${a.toFixed(2)} s, ` +
          `${step.finished ? `end +${b.toFixed(2)} s, ` : ""}${duration((b - a) * 1000)}` +
          `${step.attempts > 1 ? `, ${step.attempts} attempts` : ""}`;
        bar.setAttribute("aria-label", bar.title);
        if (times?.length && (step.finished || !(clock - (banded.get(path) || 0) < 0.5))) {
          banded.set(path, clock);
          bar.classList.add("band");
          bar.style.backgroundImage = band(times, step.started, step.finished ?? end);
          bar.title += `\n${times.length} item steps finished (darker: more at once)`;
        }
      }
      now.hidden = Boolean(state.run.finished_at);
      now.style.setProperty("--t0", String(Math.max(clock - t0, 0).toFixed(4)));
    },
    /** The visible span in seconds. */
    span: () => span,
  };
}
