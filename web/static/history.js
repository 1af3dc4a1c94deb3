// Undo/redo by snapshots of the saved workflow: simple and always consistent.

export class UndoHistory {
  constructor(limit = 100) {
    this.limit = limit;
    this.states = [];
    this.index = -1;
  }

  /** Records a state unless it equals the current one; returns true if recorded. */
  record(state) {
    const text = JSON.stringify(state);
    if (text === this.states[this.index]) return false;
    this.states = this.states.slice(0, this.index + 1);
    this.states.push(text);
    if (this.states.length > this.limit) this.states.shift();
    this.index = this.states.length - 1;
    return true;
  }

  /** Forgets everything and starts from this state. */
  reset(state) {
    this.states = [];
    this.index = -1;
    this.record(state);
  }

  canUndo() { return this.index > 0; }
  canRedo() { return this.index < this.states.length - 1; }

  undo() { return this.canUndo() ? JSON.parse(this.states[--this.index]) : null; }
  redo() { return this.canRedo() ? JSON.parse(this.states[++this.index]) : null; }
}
