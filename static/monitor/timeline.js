// The timeline (Gantt): one row per step on a shared time axis, one bar per attempt coloured by
// status (the gaps between a retried step's bars are its backoff), a foreach body's items as a
// density band from its first item's start, the critical path marked, a moving "now" line while
// the run goes on, and a legend. Bars are placed with CSS variables so a longer axis changes one
// variable on the container, not every bar. Steps that ran without a card (a sub-workflow's, a
// hook's the flow does not draw) get a row of their own under their parent's.
import {duration, mark} from "../common/status.js";
import {legend} from "./legend.js";

const ACTIVE = new Set(["running", "retrying"]);
const BUCKETS = 40;
const ITEM = /\[\d+\]/;

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

/**
 * Where a foreach body's bar starts: when its loop started (the first item starts with it), else
 * its first item's start seen (a nested loop's instances are not steps of their own here).
 */
function bodyStart(state, path) {
  for (let cut = path.lastIndexOf("."); cut > 0; cut = path.lastIndexOf(".", cut - 1)) {
    const loop = state.steps.get(path.slice(0, cut));
    if (loop?.started != null) return loop.started;
  }
  return state.itemStarts.get(path) ?? null;
}

/**
 * Mount the timeline in `root` with one row per path of `rows` ([{path, label, depth}]); steps
 * without a row get one when their path starts with `within` (a sub-workflow's own view: its steps).
 */
export function mountTimeline(root, rows, {onSelect, resumedFrom = null, within = ""}) {
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
  const tracks = new Map();  // path -> {line, track, bars: Element[]}

  function makeRow(row) {
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
    line.append(label, track);
    tracks.set(row.path, {line, track, bars: []});
    return line;
  }
  body.append(...rows.map(makeRow));
  root.append(axis, body, legend());
  root.addEventListener("click", (e) => {
    const row = e.target.closest(".tl-row");
    if (row) onSelect(row.dataset.path);
  });

  /** Rows for `more` right after the row of `after` (and its rows below), unless there already. */
  function insertRows(after, more) {
    let anchor = tracks.get(after)?.line || null;
    while (anchor?.nextElementSibling?.dataset.path?.startsWith(`${after}.`)) anchor = anchor.nextElementSibling;
    const fresh = more.filter((row) => !tracks.has(row.path)).map(makeRow);
    if (anchor) anchor.after(...fresh);
    else body.append(...fresh);
  }

  /** A row for a step that ran without a card: under its nearest parent's row. */
  function adoptPath(path) {
    let parent = path;
    do parent = parent.slice(0, Math.max(parent.lastIndexOf("."), 0)); while (parent && !tracks.has(parent));
    const label = path.slice(parent ? parent.length + 1 : 0);
    insertRows(parent, [{path, label, depth: path.split(".").length - 1}]);
  }

  function barsFor(entry, n) {
    while (entry.bars.length < n) {
      const bar = document.createElement("div");
      bar.className = "tl-bar";
      bar.dataset.testid = "timeline-bar";
      bar.dataset.path = entry.line.dataset.path;
      bar.setAttribute("role", "img");
      entry.track.append(bar);
      entry.bars.push(bar);
    }
    for (const [i, bar] of entry.bars.entries()) bar.hidden = i >= n;
    return entry.bars;
  }

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
      tick.textContent = span < 2 ? `${Math.round(t * 1000)} ms` : `${+t.toFixed(2)}s`;
      ticks.push(tick);
    }
    axis.replaceChildren(...ticks);
  }

  function place(bar, path, piece, end, extra = "") {
    const a = piece.started - t0;
    const b = (piece.finished ?? (ACTIVE.has(piece.status) ? end : piece.started)) - t0;
    bar.dataset.status = piece.status;
    bar.style.setProperty("--t0", a.toFixed(4));
    bar.style.setProperty("--t1", Math.max(b, a).toFixed(4));
    bar.title = `${path}${extra}: ${mark(piece.status)} ${piece.status}\nstart +${a.toFixed(2)} s, ` +
      `${piece.finished ? `end +${b.toFixed(2)} s, ` : ""}${duration((b - a) * 1000)}` +
      `${piece.error ? `\n${piece.error.slice(0, 200)}` : ""}`;
    bar.setAttribute("aria-label", bar.title);
  }

  function draw(state, path, end, clock) {
    const entry = tracks.get(path);
    let step = state.steps.get(path);
    const times = state.itemTimes.get(path);
    if (!step && times?.length) {  // a foreach body step: its items, first start to last end
      const counts = state.items.get(path) || {};
      const start = bodyStart(state, path) ?? Math.min(...times.slice(0, 50)) - 0.001;
      step = {status: counts.running ? "running" : counts.failed ? "failed" : "succeeded", started: start,
        finished: counts.running ? null : times[times.length - 1], tries: []};
    }
    if (!step || step.started === null) { barsFor(entry, 0); return; }
    const tries = step.tries?.length > 1 ? step.tries.filter((a) => a.started != null) : [];
    const bars = barsFor(entry, Math.max(tries.length, 1));
    if (tries.length > 1) {
      tries.forEach((a, i) => {
        place(bars[i], path, a, end, ` attempt ${a.attempt} of ${tries.length}`);
        bars[i].dataset.attempt = String(a.attempt);
      });
      return;
    }
    const bar = bars[0];
    bar.classList.toggle("reused", Boolean(step.reused));
    place(bar, path, step, end);
    if (step.reused) {
      bar.title = `${path}: reused${resumedFrom ? ` from #${resumedFrom}` : ""} (not run again)`;
      bar.setAttribute("aria-label", bar.title);
    } else if (step.attempts > 1) bar.title += `, ${step.attempts} attempts`;
    if (times?.length && (step.finished || !(clock - (banded.get(path) || 0) < 0.5))) {
      banded.set(path, clock);
      bar.classList.add("band");
      bar.style.backgroundImage = band(times, step.started, step.finished ?? end);
      bar.title += `\n${times.length} item steps finished (darker: more at once)`;
      bar.setAttribute("aria-label", bar.title);
    }
  }

  return {
    insertRows,
    /**
     * Redraw: `changed` the paths to redraw (null: all); `clock` the time now (or the run's end).
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
      for (const path of changed || state.steps.keys()) {
        if (!tracks.has(path) && state.steps.has(path) && !ITEM.test(path) && path.startsWith(within)) adoptPath(path);
      }
      const paths = new Set(changed ? [...changed].filter((p) => tracks.has(p)) : tracks.keys());
      if (clock - grown >= 0.25 || state.run.finished_at) {  // running bars grow 4 times a second
        grown = clock;
        for (const path of tracks.keys()) {
          if (ACTIVE.has(state.steps.get(path)?.status) || state.items.get(path)?.running) paths.add(path);
        }
      }
      for (const path of paths) draw(state, path, end, clock);
      now.hidden = Boolean(state.run.finished_at) || state.run.status === "waiting";  // a waiting run is not going on
      now.style.setProperty("--t0", String(Math.max(clock - t0, 0).toFixed(4)));
    },
    /** Mark the rows of the steps on the critical path. */
    critical(paths) {
      const on = new Set(paths);
      for (const [path, {line}] of tracks) {
        line.classList.toggle("critical", on.has(path));
        if (on.has(path)) line.querySelector(".tl-label").setAttribute("aria-description", "on the critical path");
      }
    },
    /** The visible span in seconds. */
    span: () => span,
  };
}
