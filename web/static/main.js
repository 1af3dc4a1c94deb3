// Wires the editor together: model, canvas, palette, server connection and toolbar.
import { api } from './api.js';
import { ServerSocket } from './socket.js';
import { buildSpecs } from './schema.js';
import { Graph, nodeFromSpec, MODE_MUTED, MODE_BYPASS } from './graph.js';
import { toWorkflow, loadWorkflow, copyNodes, addSavedNodes, isUiFormat } from './workflow.js';
import { readPngText } from './png.js';
import { UndoHistory } from './history.js';
import { applySeedControls } from './widgets.js';
import { CanvasView } from './canvas.js';
import { Palette } from './palette.js';
import { QueuePanel } from './queuepanel.js';
import { ModelsPanel } from './modelspanel.js';
import { RunState } from './runstate.js';
import { buildDefaultGraph } from './defaultgraph.js';
import { modelNotes } from './modelnotes.js';
import { NodeSearch, openLinkSearch } from './nodesearch.js';
import { openContextMenu } from './contextmenu.js';
import { askText } from './dialogs.js';
import { toggleShortcutHelp } from './shortcuts.js';
import { RunHistory } from './runhistory.js';
import { ImageUploads, isImageFile } from './imageupload.js';
import { withNoteSpecs } from './notes.js';
import { viewFromDs } from './viewds.js';

const STORAGE_KEY = 'latentloom.workflow';
const CLIPBOARD_KEY = 'latentloom.clipboard';

function randomId() {
  return crypto.randomUUID ? crypto.randomUUID().replace(/-/g, '') : String(Math.random()).slice(2);
}

function newClientId() {
  let id = sessionStorage.getItem('latentloom.clientId');
  if (!id) {
    id = randomId();
    sessionStorage.setItem('latentloom.clientId', id);
  }
  return id;
}

class App {
  constructor() {
    this.graph = new Graph();
    this.specs = new Map();
    this.history = new UndoHistory();
    this.clientId = newClientId();
    this.messageBox = document.querySelector('[data-testid="message"]');
    this.canvas = new CanvasView(document.querySelector('[data-testid="canvas"]'), this);
    this.runState = new RunState({
      refreshState: (id) => this.canvas.refreshState(id),
      refreshAllStates: () => this.canvas.refreshAllStates(),
      gallery: (url, note) => this.queue.addImage(url, note),
      message: (text, kind) => this.message(text, kind),
      queueChanged: () => { this.queue.refresh(); this.runs.soon(); },
    });
    this.palette = new Palette(document.querySelector('[data-testid="palette"]'), (type) => this.addNode(type));
    this.queue = new QueuePanel(document.querySelector('.side:not(.models-panel)'), (text) => this.message(text, 'error'));
    this.models = new ModelsPanel(document.querySelector('[data-testid="models-panel"]'), this);
    this.runs = new RunHistory(document.querySelector('[data-testid="history"]'), document.querySelector('[data-testid="gallery"]'), this);
    this.uploads = new ImageUploads(document.querySelector('[data-testid="canvas"]'), this);
    this.pointerWorld = null;
    this.lastRefresh = 0;
    this.search = new NodeSearch();
    this.saveName = 'workflow';
  }

  async start() {
    try {
      await this.refreshNodeInfo();
    } catch (e) {
      this.message(`Could not read the node list from the server: ${e.message}`, 'error');
    }
    this.restore();
    this.history.reset(this.snapshot());
    this.bindToolbar();
    this.bindKeys();
    this.bindFiles();
    this.runs.refresh();
    this.socket = new ServerSocket(this.clientId, {
      message: (type, data) => this.models.handle(type, data) || this.runState.handle(type, data),
      preview: (blob) => this.runState.preview(blob),
      open: () => { this.setConnection('connected'); this.queue.refresh(); },
      close: () => this.setConnection('disconnected'),
    });
    window.addEventListener('focus', () => {
      // Model lists may have changed on disk while the tab was in the background.
      if (Date.now() - this.lastRefresh > 2000) this.refreshNodeInfo().catch(() => {});
    });
    document.body.dataset.ready = 'true';
  }

  setConnection(text) {
    const el = document.querySelector('[data-testid="connection"]');
    el.textContent = text;
    el.dataset.state = text;
  }

  // ---- state, history, storage --------------------------------------------

  snapshot() { return toWorkflow(this.graph); }

  persist() {
    try { localStorage.setItem(STORAGE_KEY, JSON.stringify(toWorkflow(this.graph, this.canvas.view))); } catch { /* storage full or blocked */ }
  }

  restore() {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved) {
      try {
        this.applyWorkflow(JSON.parse(saved));
        return;
      } catch (e) {
        this.message(`The stored workflow could not be restored: ${e.message}`, 'error');
      }
    }
    this.loadDefault();
  }

  loadDefault() {
    if (!buildDefaultGraph(this.graph, this.specs)) this.graph.clear();
    this.canvas.render();
    this.canvas.fitView();
    this.canvas.measureNodes();
    this.persist();
  }

  /** Loads a UI-format workflow into the editor (not yet recorded for undo). */
  applyWorkflow(data) {
    const warnings = loadWorkflow(this.graph, data, this.specs);
    const view = viewFromDs(this.graph.extra.ds);
    if (view) this.canvas.view = view;
    this.canvas.render();
    this.canvas.measureNodes();
    if (warnings.length) this.message(warnings.join('\n'), 'warning');
  }

  /** Call after every user edit: redraws, records for undo, stores. */
  changed() {
    this.canvas.render();
    this.commit();
  }

  commit() {
    this.canvas.measureNodes();
    this.history.record(this.snapshot());
    this.persist();
    this.updateButtons();
  }

  restoreSnapshot(state) {
    if (!state) return;
    const selected = [...this.canvas.selected];
    loadWorkflow(this.graph, state, this.specs);
    this.canvas.selected = new Set(selected.filter((id) => this.graph.nodes.has(id)));
    this.canvas.render();
    this.persist();
    this.updateButtons();
  }

  undo() { this.restoreSnapshot(this.history.undo()); }
  redo() { this.restoreSnapshot(this.history.redo()); }

  updateButtons() {
    document.querySelector('[data-action="undo"]').disabled = !this.history.canUndo();
    document.querySelector('[data-action="redo"]').disabled = !this.history.canRedo();
  }

  // ---- hooks used by the canvas -----------------------------------------------

  widgetInput() { this.persist(); }
  widgetCommit(node) {
    if (node && this.graph.reshape(node)) this.changed();  // a dynamic combo brought other inputs
    else this.commit();
  }
  viewChanged() { this.persist(); }

  connect(fromId, fromSlot, toId, name) {
    const result = this.graph.connect(fromId, fromSlot, toId, name);
    return result.ok ? null : result.reason;
  }

  disconnect(linkId) { this.graph.disconnect(linkId); }

  refused(text, element) {
    if (element) {
      element.classList.add('refused');
      setTimeout(() => element.classList.remove('refused'), 1500);
    }
    this.message(text, 'error');
  }

  message(text, kind = 'info') {
    const box = this.messageBox;
    // Server events can overtake the reply to our own request; news never hides an error.
    if (kind === 'info' && !box.hidden && box.dataset.kind === 'error') return;
    box.textContent = text;
    box.dataset.kind = kind;
    box.hidden = false;
    clearTimeout(this.messageTimer);
    this.messageTimer = setTimeout(() => { box.hidden = true; }, kind === 'error' ? 10000 : 5000);
  }

  // ---- editing -------------------------------------------------------------------

  /** Adds a node (at pos, or a free spot in view); wire(node) links it up within the same undo step. */
  addNode(type, pos, wire) {
    const spec = this.specs.get(type);
    if (!spec) return null;
    const node = this.graph.addNode(nodeFromSpec(spec, null, pos || this.canvas.freeSpot()));
    if (wire) wire(node);
    this.canvas.select(node.id, false);
    this.changed();
    return node;
  }

  /** The node search box at client (x, y); the picked node lands at world point `world`. */
  searchNode(x, y, world, { filter, wire, label } = {}) {
    this.search.open(x, y, this.specs, (type) => this.addNode(type, world, wire), { filter, label });
  }

  /** A link dropped on empty space (canvas.js): offer the nodes it fits. */
  linkReleased(end, x, y) { openLinkSearch(this, end, x, y); }

  /** Colours the selected nodes ({color, bgcolor} as ComfyUI saves them), or takes their colour off (null). */
  setNodeColors(colors) {
    for (const id of this.canvas.selected) {
      const node = this.graph.nodes.get(id);
      if (colors) Object.assign(node, colors);
      else { delete node.color; delete node.bgcolor; }
    }
    this.changed();
  }

  deleteSelected() {
    if (!this.canvas.selected.size) return;
    for (const id of this.canvas.selected) this.graph.removeNode(id);
    this.canvas.selected.clear();
    this.changed();
  }

  copySelected() {
    if (!this.canvas.selected.size) return;
    this.clipboard = copyNodes(this.graph, [...this.canvas.selected]);
    try { localStorage.setItem(CLIPBOARD_KEY, JSON.stringify(this.clipboard)); } catch { /* ignore */ }
    this.message(`Copied ${this.clipboard.nodes.length} node(s).`);
  }

  paste() {
    let data = this.clipboard;
    if (!data) {
      try { data = JSON.parse(localStorage.getItem(CLIPBOARD_KEY) || 'null'); } catch { data = null; }
    }
    if (!data || !data.nodes.length) return;
    const minX = Math.min(...data.nodes.map((n) => n.pos[0]));
    const minY = Math.min(...data.nodes.map((n) => n.pos[1]));
    const target = this.pointerWorld || [minX + 40, minY + 40];
    const { ids } = addSavedNodes(this.graph, data.nodes, data.links, this.specs, { freshIds: true, offset: [target[0] - minX, target[1] - minY] });
    this.canvas.selected = new Set(ids);
    this.changed();
  }

  toggleMode(mode) {
    if (!this.canvas.selected.size) return;
    for (const id of this.canvas.selected) {
      const node = this.graph.nodes.get(id);
      node.mode = node.mode === mode ? 0 : mode;
    }
    this.changed();
  }

  clearGraph() {
    this.graph.clear();
    this.changed();
  }

  // ---- server actions -------------------------------------------------------------

  async refreshNodeInfo() {
    this.lastRefresh = Date.now();
    const [info, loras, checkpoints] = await Promise.all([api.objectInfo(),
      ...['loras', 'checkpoints'].map((folder) => api.modelDetails(folder).catch(() => []))]);
    this.specs = withNoteSpecs(buildSpecs(info));
    modelNotes.update({ loras, checkpoints });
    this.palette.setSpecs(this.specs);
    // Existing combos pick up new files but keep their value.
    let touched = false;
    for (const node of this.graph.nodes.values()) {
      const spec = this.specs.get(node.type);
      if (!spec) continue;
      for (const w of node.widgets) {
        const fresh = spec.widgets.find((s) => s.name === w.name);
        if (w.kind !== 'COMBO' || !fresh) continue;
        w.choices = [...fresh.choices];
        if (!w.choices.includes(String(w.value))) {
          if (w.value === '' || w.value == null) w.value = w.choices[0] ?? '';
          else w.choices.push(String(w.value));
        }
        touched = true;
      }
    }
    if (touched || loras.length || checkpoints.length) this.canvas.render();
  }

  /** Queues the workflow as many times as the batch count next to the Queue button says. */
  async queueBatch() {
    const field = document.querySelector('[data-testid="batch-count"]');
    const count = Math.max(1, Math.min(100, Math.floor(Number(field.value)) || 1));
    field.value = String(count);
    for (let k = 0; k < count; k++) if (!(await this.queuePrompt())) return;
  }

  /** Queues the workflow once; true when the server took it. */
  async queuePrompt() {
    this.runState.clearErrors();
    const workflow = toWorkflow(this.graph, this.canvas.view);
    let prompt;
    try {
      ({ prompt } = await api.convertWorkflow(workflow, 'api'));
    } catch (e) {
      this.message(`The workflow could not be queued: ${e.message}`, 'error');
      return false;
    }
    // Our own prompt id: the run's events may arrive before the server's answer does.
    const promptId = randomId();
    this.runState.noteImages(promptId, modelNotes.imageNote(prompt));
    let result;
    try {
      result = await api.queuePrompt(prompt, this.clientId, workflow, promptId);
    } catch (e) {
      this.runState.forgetImages(promptId);
      this.message(`Could not reach the server: ${e.message}`, 'error');
      return false;
    }
    const data = result.data || {};
    if (data.node_errors && Object.keys(data.node_errors).length) this.runState.showNodeErrors(data.node_errors);
    if (!result.ok) {
      this.runState.forgetImages(promptId);
      const err = data.error || {};
      this.message(`${err.message || 'The prompt was rejected.'}${err.details ? `\n${err.details}` : ''}`, 'error');
      this.queue.refresh();
      return false;
    }
    this.message(`Queued prompt #${data.number}.`);
    if (applySeedControls(this.graph)) this.changed();
    this.queue.refresh();
    return true;
  }

  async interrupt() {
    await api.interrupt();
  }

  // ---- files ------------------------------------------------------------------------

  /** Asks for a name (the last one offered) and downloads the workflow as <name>.json. */
  async save() {
    const answer = await askText('Save workflow as', this.saveName);
    if (!answer) return;
    this.saveName = answer.replace(/\.json$/i, '').replace(/[\\/:*?"<>|]/g, '_') || 'workflow';
    const data = toWorkflow(this.graph, this.canvas.view);
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${this.saveName}.json`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  /** Opens a workflow file, a PNG carrying one (ComfyUI's, or AUTOMATIC1111's `parameters`), or a photo, which
   * becomes a LoadImage node (at `pos` when dropped). */
  async openFile(file, pos) {
    try {
      let data;
      if (isImageFile(file)) {
        const texts = await readPngText(await file.arrayBuffer());
        // Images from API clients carry only the prompt; the server lays it out.
        const text = texts.workflow || texts.prompt;
        if (text) data = JSON.parse(text);
        else if (texts.parameters) ({ workflow: data } = await api.workflowFromParameters(texts.parameters));
        else {
          await this.uploads.placeImage(file, pos);
          this.message(`${file.name} holds no workflow: it is in a LoadImage node.`);
          return;
        }
      } else {
        data = JSON.parse(await file.text());
      }
      await this.openWorkflow(data, file.name);
    } catch (e) {
      this.message(`Could not load ${file.name}: ${e.message}`, 'error');
    }
  }

  /** Replaces the graph with a workflow (API-format ones are laid out by the server); undoable. */
  async openWorkflow(data, name) {
    try {
      const laidOut = !isUiFormat(data);
      if (laidOut) ({ workflow: data } = await api.convertWorkflow(data, 'ui'));
      this.runState.nodes.clear();
      this.canvas.selected.clear();
      this.applyWorkflow(data);
      if (laidOut) this.canvas.fitView();
      this.commit();
      this.message(`Loaded ${name}.`);
    } catch (e) {
      this.message(`Could not load ${name}: ${e.message}`, 'error');
    }
  }

  // ---- bindings -----------------------------------------------------------------------

  bindToolbar() {
    const actions = {
      queue: () => this.queueBatch(),
      interrupt: () => this.interrupt(),
      undo: () => this.undo(),
      redo: () => this.redo(),
      save: () => this.save(),
      load: () => document.querySelector('[data-testid="load-file"]').click(),
      refresh: () => this.refreshNodeInfo().then(() => this.message('Node list refreshed.')).catch((e) => this.message(e.message, 'error')),
      models: () => this.models.toggle(),
      default: () => { this.runState.nodes.clear(); this.loadDefault(); this.commit(); },
      clear: () => this.clearGraph(),
      'clear-queue': () => this.queue.clear(),
    };
    for (const [name, run] of Object.entries(actions)) {
      document.querySelector(`[data-action="${name}"]`).addEventListener('click', run);
    }
    this.updateButtons();
  }

  bindKeys() {
    const canvasEl = document.querySelector('[data-testid="canvas"]');
    canvasEl.addEventListener('pointermove', (e) => { this.pointerWorld = this.canvas.toWorld(e.clientX, e.clientY); });
    canvasEl.addEventListener('dblclick', (e) => {
      if (e.target.closest('.node')) return;
      this.searchNode(e.clientX, e.clientY, this.canvas.toWorld(e.clientX, e.clientY));
    });
    canvasEl.addEventListener('contextmenu', (e) => { e.preventDefault(); openContextMenu(this, e); });
    document.addEventListener('keydown', (e) => {
      const ctrl = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      if (ctrl && key === 'enter') { e.preventDefault(); this.queueBatch(); return; }
      if (e.target.closest && e.target.closest('input, textarea, select, [contenteditable]')) return;
      if (ctrl && key === 'z' && !e.shiftKey) { e.preventDefault(); this.undo(); }
      else if (ctrl && (key === 'y' || (key === 'z' && e.shiftKey))) { e.preventDefault(); this.redo(); }
      else if (ctrl && key === 'c') this.copySelected();
      else if (ctrl && key === 'v') { if (!this.uploads.selectedUploadNode()) this.paste(); } // else imageupload.js
      else if (ctrl && key === 's') { e.preventDefault(); this.save(); }
      else if (ctrl && key === 'o') { e.preventDefault(); document.querySelector('[data-testid="load-file"]').click(); }
      else if (ctrl && key === 'a') { e.preventDefault(); this.canvas.selected = new Set(this.graph.nodes.keys()); this.canvas.select(null, true); }
      else if (ctrl && key === 'm') { e.preventDefault(); this.toggleMode(MODE_MUTED); }
      else if (ctrl && key === 'b') { e.preventDefault(); this.toggleMode(MODE_BYPASS); }
      else if (key === 'delete' || key === 'backspace') this.deleteSelected();
      else if (key === '.') { this.canvas.fitView(); this.persist(); }
      else if (e.key === '?') toggleShortcutHelp();
    });
  }

  bindFiles() {
    const input = document.querySelector('[data-testid="load-file"]');
    input.addEventListener('change', () => {
      if (input.files[0]) this.openFile(input.files[0]);
      input.value = '';
    });
    window.addEventListener('dragover', (e) => e.preventDefault());
    window.addEventListener('drop', (e) => {
      e.preventDefault();
      const file = e.dataTransfer && e.dataTransfer.files[0];
      const onCanvas = e.target.closest && e.target.closest('[data-testid="canvas"]');
      if (file) this.openFile(file, onCanvas ? this.canvas.toWorld(e.clientX, e.clientY) : null);
    });
  }
}

const app = new App();
window.latentloom = app; // handy from the devtools console
app.start();
