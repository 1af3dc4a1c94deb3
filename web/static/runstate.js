// What the server tells us about a run, per node: running, progress, errors, images.
import { api } from './api.js';

export class RunState {
  /** view: {refreshState(id), refreshAllStates(), gallery(url, note), message(text, kind), queueChanged()} */
  constructor(view) {
    this.view = view;
    this.nodes = new Map();
    this.running = null;
    this.promptId = null;
    this.imageNotes = new Map(); // prompt_id -> what to say under that prompt's images
  }

  get(id) { return this.nodes.get(Number(id)); }

  update(id, patch) {
    id = Number(id);
    this.nodes.set(id, { ...(this.nodes.get(id) || {}), ...patch });
    this.view.refreshState(id);
  }

  clearErrors() {
    for (const [id, s] of this.nodes) if (s.error) this.update(id, { error: null });
  }

  /** Remembers a note for the images of a prompt we queue (its id is ours, so no event can come first). */
  noteImages(promptId, note) {
    if (note) this.imageNotes.set(promptId, note);
  }

  /** Forgets a prompt's note once it ran or was refused. */
  forgetImages(promptId) {
    this.imageNotes.delete(promptId);
  }

  /** node_errors of a rejected prompt, shown on each node and input; the error types go in the details. */
  showNodeErrors(nodeErrors) {
    for (const [id, entry] of Object.entries(nodeErrors || {})) {
      const inputs = {};
      const lines = [];
      const types = new Set();
      for (const err of entry.errors || []) {
        const input = err.extra_info && err.extra_info.input_name;
        const text = err.details ? `${err.message}: ${err.details}` : err.message;
        if (input) inputs[input] = text;
        if (err.type) types.add(err.type);
        lines.push(input ? `${input}: ${text}` : text);
      }
      this.update(id, { error: { message: lines.join('\n'), type: [...types].join(', '), inputs } });
    }
  }

  setRunning(id) {
    if (this.running != null) this.update(this.running, { running: false, preview: null });
    this.running = id == null ? null : Number(id);
    if (this.running != null) this.update(this.running, { running: true, progress: null, cached: false });
  }

  handle(type, data) {
    switch (type) {
      case 'status':
        this.view.queueChanged(data.status?.exec_info?.queue_remaining);
        break;
      case 'execution_start':
        this.promptId = data.prompt_id;
        for (const [id, s] of this.nodes) if (s.cached || s.error) this.update(id, { cached: false, error: null });
        break;
      case 'execution_cached':
        for (const id of data.nodes || []) this.update(id, { cached: true });
        break;
      case 'executing':
        this.setRunning(data.node);
        if (data.node == null) this.view.queueChanged();
        break;
      case 'progress':
        if (data.node != null) this.update(data.node, { progress: { value: data.value, max: data.max } });
        break;
      case 'executed': {
        const images = (data.output && data.output.images) || [];
        const urls = images.map((img) => api.viewUrl(img));
        if (urls.length) {
          const note = this.imageNotes.get(data.prompt_id) || '';
          this.update(data.node, { images: urls, imageNote: note });
          for (const url of urls) this.view.gallery(url, note);
        }
        break;
      }
      case 'execution_error':
        // The message is for the user; the exception's class path is for a bug report, behind a toggle.
        this.update(data.node_id, { error: { message: data.exception_message, type: data.exception_type || '', inputs: {} } });
        this.view.message(`${data.node_type || 'Node'} #${data.node_id} failed: ${data.exception_message}`, 'error');
        this.finished(data.prompt_id);
        break;
      case 'execution_interrupted':
        this.view.message('Interrupted.', 'info');
        this.finished(data.prompt_id);
        break;
      case 'execution_success':
        this.finished(data.prompt_id);
        break;
      default:
        break;
    }
  }

  finished(promptId) {
    this.forgetImages(promptId);
    this.setRunning(null);
  }

  /** A binary preview frame belongs to the node that is running now. */
  preview(blob) {
    if (this.running == null) return;
    const old = this.get(this.running)?.preview;
    if (old) URL.revokeObjectURL(old);
    this.update(this.running, { preview: URL.createObjectURL(blob) });
  }
}
