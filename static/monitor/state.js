// A run's state in the browser, built from the socket's snapshot and events. Foreach items'
// steps are counted per body step, never kept one by one (a run may have 100 000 of them).

const ITEM = /\[\d+\]/g;
const FINAL = new Set(["succeeded", "failed", "cancelled", "skipped"]);

export class RunState {
  constructor() {
    /**
     * Each step's latest state; `tries` holds every attempt (timeline bars, detail), `reused`
     * says its output came from the run this one resumed.
     * @type {Map<string, {status: string, attempts: number, started: number|null, finished: number|null, duration_ms: number|null, error: string, kind?: string, uses?: string, tries: object[], reused?: boolean}>}
     */
    this.steps = new Map();
    this.progress = new Map();
    /** @type {Map<string, {[status: string]: number}>} counts per body step ("per_file.download") */
    this.items = new Map();
    this.itemStatus = new Map();
    /** @type {Map<string, number[]>} when items' steps finished, per foreach and per body step (density bands) */
    this.itemTimes = new Map();
    /** @type {Map<string, number>} when the first item step started, per foreach and per body step */
    this.itemStarts = new Map();
    this.logs = new Map();
    this.run = {status: "queued"};
    this.seq = 0;
    this.dirty = new Set();
    this.runDirty = true;
    this.ready = false;  // a snapshot arrived
  }

  /** Start over from a snapshot message. */
  snapshot(msg) {
    this.seq = msg.seq;
    this.run = {...msg.run};
    this.steps.clear();
    for (const [path, s] of Object.entries(msg.steps || {})) {
      // a retried step's rows before its last come from the API (setTries)
      this.steps.set(path, {status: s.status, attempts: s.attempts, started: s.started_at,
        finished: s.finished_at, duration_ms: s.duration_ms, error: s.error || "", kind: s.kind, uses: s.uses,
        tries: [{attempt: s.attempts, status: s.status, started: s.started_at, finished: s.finished_at,
          duration_ms: s.duration_ms, error: s.error || ""}]});
      this.dirty.add(path);
    }
    this.progress = new Map(Object.entries(msg.progress || {}));
    this.itemStarts.clear();
    this.items = new Map(Object.entries(msg.items || {}).map(([k, v]) => [k, {...v}]));
    this.itemTimes = new Map(Object.entries(msg.item_times || {}));
    // items under way: their next events move them from these counts to the next ones
    this.itemStatus = new Map(Object.entries(msg.open_items || {}));
    for (const path of [...this.progress.keys(), ...this.items.keys()]) this.dirty.add(path);
    this.runDirty = true;
  }

  /** Apply one event (in seq order). */
  apply(e) {
    if (typeof e.seq === "number") {
      if (e.seq <= this.seq) return;
      this.seq = e.seq;
    }
    const t = e.type;
    if (t === "run.started") {
      this.run.status = "running";
      this.run.started_at = this.run.started_at || e.ts;
      this.runDirty = true;
      return;
    }
    if (t === "run.status") {  // changed outside a running run: taken over, interrupted, cancelled
      this.run.status = e.status;
      this.run.error = e.error || "";
      if (e.final) {
        this.run.finished_at = e.ts;
        this.settleSteps(e.status === "cancelled" ? "cancelled" : "failed", e.ts);
      }
      this.runDirty = true;
      return;
    }
    if (t === "run.finished") {
      Object.assign(this.run, {status: e.status, error: e.error || "", duration_ms: e.duration_ms,
        summary: e.summary, outputs: e.outputs, finished_at: e.ts});
      if (e.status === "waiting") this.settleSteps("waiting", null);  // the blocks around a waiting step
      this.runDirty = true;
      return;
    }
    if (t === "foreach.progress") {
      this.progress.set(e.path, {done: e.done, failed: e.failed, running: e.running, total: e.total});
      this.dirty.add(e.path);
      return;
    }
    if (t === "log") {
      if (!this.logs.has(e.path)) this.logs.set(e.path, []);
      const lines = this.logs.get(e.path);
      lines.push(e);
      if (lines.length > 200) lines.shift();
      this.dirty.add(e.path);
      return;
    }
    if (!t || !t.startsWith("step.")) return;
    const status = t === "step.started" ? "running" : t.slice(5);
    if (e.path.includes("[")) return this.countItem(e, status);
    let step = this.steps.get(e.path);
    if (!step) {
      step = {status: "pending", attempts: 0, started: null, finished: null, duration_ms: null, error: "", tries: []};
      this.steps.set(e.path, step);
    }
    if (t === "step.compensated") {  // undone by a rollback: its run stays as it was
      step.status = "compensated";
      this.dirty.add(e.path);
      return;
    }
    step.status = status;
    if (t === "step.started") {
      step.attempts = e.attempt;
      step.kind = e.kind;
      step.uses = e.uses;
      if (step.started === null || e.attempt === 1) step.started = e.ts;
      step.finished = null;
      step.error = "";
      step.tries = step.tries.filter((a) => a.attempt < e.attempt);
      step.tries.push({attempt: e.attempt, status: "running", started: e.ts, finished: null, duration_ms: null, error: ""});
    } else if (t === "step.retrying") {
      step.attempts = e.attempt;
      step.error = e.error;
      Object.assign(this.tryOf(step, e.attempt), {status: "failed", finished: e.ts, error: e.error});
    } else {
      step.finished = e.ts;
      if (e.duration_ms !== undefined) step.duration_ms = e.duration_ms;
      if (e.attempt) step.attempts = e.attempt;
      if (e.reused) step.reused = true;
      if (step.started === null) step.started = e.ts - (e.duration_ms || 0) / 1000;
      step.error = e.error || e.reason || "";
      if (!e.reused && t !== "step.skipped") {
        Object.assign(this.tryOf(step, e.attempt || step.attempts), {status, finished: e.ts,
          duration_ms: e.duration_ms ?? null, error: e.error || ""});
      }
    }
    this.dirty.add(e.path);
  }

  /** The record of attempt `n` of `step` (made when its start event was not seen). */
  tryOf(step, n) {
    let found = step.tries.find((a) => a.attempt === n);
    if (!found) {
      found = {attempt: n || 1, status: "running", started: step.started, finished: null, duration_ms: null, error: ""};
      step.tries.push(found);
    }
    return found;
  }

  /** Every attempt of `path` from the API's rows (a snapshot has only the last one). */
  setTries(path, rows) {
    const step = this.steps.get(path);
    if (!step || !rows.length) return;
    const when = (v) => (v ? Date.parse(v) / 1000 : null);
    const known = new Map(step.tries.map((a) => [a.attempt, a]));
    for (const row of rows) {
      known.set(row.attempt, {...known.get(row.attempt), attempt: row.attempt, status: row.status,
        started: when(row.started_at), finished: when(row.finished_at), duration_ms: row.duration_ms, error: row.error || ""});
    }
    step.tries = [...known.values()].sort((a, b) => a.attempt - b.attempt);
    step.started = step.tries[0].started ?? step.started;
    this.dirty.add(path);
  }

  /** Mark the steps a resume took from the run it resumed. */
  markReused(paths) {
    for (const path of paths) {
      const step = this.steps.get(path);
      if (!step) continue;
      step.reused = true;
      step.tries = [];
      this.dirty.add(path);
    }
  }

  /** Steps still shown running when the run ended without events of theirs (interrupted, cancelled). */
  settleSteps(status, ts) {
    for (const [path, step] of this.steps) {
      if (step.status !== "running") continue;
      step.status = status;
      step.finished = ts;
      this.dirty.add(path);
    }
    for (const [path, before] of [...this.itemStatus]) {
      if (before === "running") this.countItem({path, ts}, status);
    }
  }

  countItem(e, status) {
    const template = e.path.replace(ITEM, "");
    const before = this.itemStatus.get(e.path);
    if (before === status) return;
    let counts = this.items.get(template);
    if (!counts) this.items.set(template, counts = {});
    if (before) counts[before] = Math.max((counts[before] || 0) - 1, 0);
    if (status === "running" && !before && e.ts) {  // the body's bar starts at its first item's start
      for (const key of [e.path.slice(0, e.path.indexOf("[")), template]) {
        if (!(this.itemStarts.get(key) <= e.ts)) this.itemStarts.set(key, e.ts);
      }
    }
    counts[status] = (counts[status] || 0) + 1;
    if (FINAL.has(status)) {
      this.itemStatus.delete(e.path);
      for (const key of [e.path.slice(0, e.path.indexOf("[")), template]) {
        if (!this.itemTimes.has(key)) this.itemTimes.set(key, []);
        this.itemTimes.get(key).push(e.ts);
      }
    }
    else this.itemStatus.set(e.path, status);
    this.dirty.add(template);
  }

  /** The paths changed since the last call. */
  takeDirty() {
    const out = this.dirty;
    this.dirty = new Set();
    return out;
  }
}
