// A run's state in the browser, built from the socket's snapshot and events. Foreach items'
// steps are counted per body step, never kept one by one (a run may have 100 000 of them).

const ITEM = /\[\d+\]/g;
const FINAL = new Set(["succeeded", "failed", "cancelled", "skipped"]);

export class RunState {
  constructor() {
    /** @type {Map<string, {status: string, attempts: number, started: number|null, finished: number|null, duration_ms: number|null, error: string, kind?: string, uses?: string}>} */
    this.steps = new Map();
    this.progress = new Map();
    /** @type {Map<string, {[status: string]: number}>} counts per body step ("per_file.download") */
    this.items = new Map();
    this.itemStatus = new Map();
    /** @type {Map<string, number[]>} when items' steps finished, per foreach and per body step (density bands) */
    this.itemTimes = new Map();
    this.logs = new Map();
    this.run = {status: "queued"};
    this.seq = 0;
    this.dirty = new Set();
    this.runDirty = true;
  }

  /** Start over from a snapshot message. */
  snapshot(msg) {
    this.seq = msg.seq;
    this.run = {...msg.run};
    this.steps.clear();
    for (const [path, s] of Object.entries(msg.steps || {})) {
      this.steps.set(path, {status: s.status, attempts: s.attempts, started: s.started_at, finished: s.finished_at,
        duration_ms: s.duration_ms, error: s.error || "", kind: s.kind, uses: s.uses});
      this.dirty.add(path);
    }
    this.progress = new Map(Object.entries(msg.progress || {}));
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
      step = {status: "pending", attempts: 0, started: null, finished: null, duration_ms: null, error: ""};
      this.steps.set(e.path, step);
    }
    step.status = status;
    if (t === "step.started") {
      step.attempts = e.attempt;
      step.kind = e.kind;
      step.uses = e.uses;
      if (step.started === null || e.attempt === 1) step.started = e.ts;
      step.finished = null;
      step.error = "";
    } else if (t === "step.retrying") {
      step.attempts = e.attempt;
      step.error = e.error;
    } else {
      step.finished = e.ts;
      if (e.duration_ms !== undefined) step.duration_ms = e.duration_ms;
      if (e.attempt) step.attempts = e.attempt;
      if (step.started === null) step.started = e.ts - (e.duration_ms || 0) / 1000;
      step.error = e.error || e.reason || "";
    }
    this.dirty.add(e.path);
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
