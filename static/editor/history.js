// Undo and redo over whole YAML texts (small: a workflow is at most 1 MiB, usually a few KiB).

export class History {
  /** @param {string} text the starting state */
  constructor(text, limit = 200) {
    this.states = [text];
    this.at = 0;
    this.limit = limit;
  }

  /** Record a new state (dropping the redo branch); equal states are not repeated. */
  push(text) {
    if (text === this.states[this.at]) return;
    this.states.splice(this.at + 1);
    this.states.push(text);
    if (this.states.length > this.limit) this.states.shift();
    this.at = this.states.length - 1;
  }

  /** The state before, or null at the start. */
  undo() {
    if (this.at === 0) return null;
    this.at -= 1;
    return this.states[this.at];
  }

  /** The state after, or null at the end. */
  redo() {
    if (this.at >= this.states.length - 1) return null;
    this.at += 1;
    return this.states[this.at];
  }
}
