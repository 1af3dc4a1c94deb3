// The models panel: what each model folder holds (kind, base or family, LoRA trigger words and frequent training
// tags, notes and problems) and a form that has the server install a file from a Hugging Face reference or a URL,
// with a progress bar per install.
import { api } from './api.js';
import { RANDOM_WEIGHTS_ADVICE, familyOf, trainingHints } from './modelnotes.js';
import { el } from './dom.js';

const FOLDERS = ['checkpoints', 'loras', 'vae', 'embeddings'];

function formatSize(bytes) {
  if (bytes == null) return '';
  const units = ['B', 'KB', 'MB', 'GB'];
  let n = Number(bytes);
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n < 10 && i ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

export class ModelsPanel {
  /** app: {clientId, refreshNodeInfo(), message(text, kind)} */
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.list = root.querySelector('[data-testid="models-list"]');
    this.installs = root.querySelector('[data-testid="model-installs"]');
    this.form = root.querySelector('[data-testid="model-install-form"]');
    this.rows = new Map(); // install_id -> its row in the installs list
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.install(); });
  }

  toggle() {
    this.root.hidden = !this.root.hidden;
    if (!this.root.hidden) this.refresh();
  }

  async refresh() {
    // A folder that cannot be read shows empty rather than hiding the others.
    const entries = await Promise.all(FOLDERS.map((f) => api.modelDetails(f).catch(() => [])));
    this.list.replaceChildren(...FOLDERS.map((folder, i) => this.folderView(folder, entries[i] || [])));
  }

  folderView(folder, entries) {
    const section = el('section', { 'data-models-folder': folder });
    section.append(el('h4', {}, `${folder} (${entries.length})`));
    const ul = el('ul');
    ul.append(...entries.map((entry) => this.entryView(entry)));
    section.append(ul);
    return section;
  }

  entryView(entry) {
    const li = el('li', { 'data-model': entry.name });
    li.append(el('span', { class: 'model-name' }, entry.name));
    const facts = [entry.kind, familyOf(entry) || 'base not stated', formatSize(entry.size)].filter(Boolean);
    li.append(el('small', { class: 'model-facts' }, facts.join(' · ')));
    if (entry.folder === 'loras' || entry.kind === 'lora') {
      for (const hint of trainingHints(entry)) li.append(el('small', { class: 'model-hint', 'data-model-hint': '' }, hint));
    }
    if (entry.random_weights) li.append(el('small', { class: 'model-warning', 'data-model-note': '' }, RANDOM_WEIGHTS_ADVICE));
    if (entry.unsupported) li.append(el('small', { class: 'model-warning', 'data-model-unsupported': '' }, String(entry.unsupported)));
    if (entry.problem) li.append(el('small', { class: 'model-warning', 'data-model-problem': '' }, entry.problem));
    if (entry.misplaced) li.append(el('small', { class: 'model-warning', 'data-model-misplaced': '' }, String(entry.misplaced)));
    return li;
  }

  async install() {
    const source = this.form.elements.source.value.trim();
    const revision = this.form.elements.revision.value.trim();
    if (!source) return;
    const body = { source, client_id: this.app.clientId };
    if (revision) body.revision = revision;
    let answer;
    try {
      answer = await api.installModel(body);
    } catch (e) {
      this.installs.prepend(this.row(null, source, e.message, 'error'));
      return;
    }
    // Progress messages may already have made the row; keep it.
    if (!this.rows.has(answer.install_id)) this.installs.prepend(this.row(answer.install_id, source));
    this.form.elements.source.value = '';
  }

  /** One install's row: its source, a progress bar while it runs, then the final message. */
  row(installId, source, text, kind) {
    const li = el('li', { 'data-install-id': installId ?? '' });
    li.append(el('span', { class: 'install-source' }, source));
    if (text === undefined) li.append(el('progress', { 'data-install-progress': '' }));
    else li.append(el('small', { class: `install-message ${kind || ''}`, 'data-install-message': kind || 'info' }, text));
    if (installId != null) this.rows.set(installId, li);
    return li;
  }

  rowFor(data) {
    let li = this.rows.get(data.install_id);
    if (!li) {
      li = this.row(data.install_id, data.source || '');
      this.installs.prepend(li);
    }
    return li;
  }

  /** Routes the server's model_install_* websocket messages; returns whether it was one of them. */
  handle(type, data) {
    if (type === 'model_install_waiting') this.waiting(data);
    else if (type === 'model_install_progress') this.progress(data);
    else if (type === 'model_install_done') this.done(data);
    else if (type === 'model_install_error') this.finish(data, data.message || 'The install failed.', 'error');
    else return false;
    return true;
  }

  /** The server runs a few installs at a time; the others wait in line until a slot frees. */
  waiting(data) {
    const li = this.rowFor(data);
    let note = li.querySelector('[data-install-waiting]');
    if (!note) {
      note = el('small', { class: 'install-message', 'data-install-waiting': '' });
      li.append(note);
    }
    const ahead = data.place_in_line > 1 ? ` (${data.place_in_line - 1} ahead of it)` : '';
    note.textContent = `Waiting for another install to finish${ahead}.`;
  }

  progress(data) {
    const li = this.rowFor(data);
    li.querySelector('[data-install-waiting]')?.remove();
    const bar = li.querySelector('progress');
    if (!bar) return;
    // No total means the server does not know the size: leave the bar indeterminate.
    if (data.total) {
      bar.max = data.total;
      bar.value = data.done || 0;
    } else {
      bar.removeAttribute('value');
    }
  }

  finish(data, text, kind) {
    const li = this.rowFor(data);
    li.querySelector('progress')?.remove();
    li.querySelector('[data-install-waiting]')?.remove();
    li.querySelector('[data-install-message]')?.remove();
    li.append(el('small', { class: `install-message ${kind}`, 'data-install-message': kind }, text));
  }

  async done(data) {
    const name = data.model ? `${data.model.folder}/${data.model.name}` : data.source;
    this.finish(data, data.message || (data.already_there ? `${name} was already there.` : `Installed ${name}.`), 'done');
    // Every combo and the LoRA notes need the new file, not just this list; combos first, so the file
    // showing up here means it can be picked in the graph too.
    await this.app.refreshNodeInfo().catch((e) => this.app.message(e.message, 'error'));
    await this.refresh();
  }
}
