// Past runs as the server's /history keeps them (in SQLite, so they outlive a reload and a restart): the first
// image, the status and the time of each; its images open large in a lightbox, and its workflow opens in the editor.
import { api } from './api.js';
import { Lightbox } from './lightbox.js';
import { el } from './dom.js';

const MAX_RUNS = 50;

/** The images a run's output nodes made, as URLs, saved images before previews (temp/ is emptied on restart). */
export function runImages(entry) {
  const images = Object.values(entry.outputs || {}).flatMap((output) => (output && output.images) || []);
  const kept = images.filter((image) => image.type !== 'temp');
  return [...kept, ...images.filter((image) => image.type === 'temp')].map((image) => ({ url: api.viewUrl(image), name: image.filename }));
}

/** What the editor opens for a run: the workflow the canvas sent with it, else the prompt itself (laid out). */
export function runWorkflow(entry) {
  const [, , prompt, extra] = entry.prompt || [];
  return (extra && extra.extra_pnginfo && extra.extra_pnginfo.workflow) || prompt;
}

function runStatus(entry) {
  const status = entry.status || {};
  if ((status.messages || []).some((m) => m[0] === 'execution_interrupted')) return 'interrupted';
  return status.status_str || 'unknown';
}

/** When the run ended: the timestamp of its last recorded event. */
function runTime(entry) {
  const messages = (entry.status && entry.status.messages) || [];
  for (let k = messages.length - 1; k >= 0; k--) {
    const stamp = messages[k] && messages[k][1] && messages[k][1].timestamp;
    if (stamp) return new Date(stamp);
  }
  return null;
}

function timeText(date) {
  if (!date) return '';
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? date.toLocaleTimeString() : date.toLocaleString();
}

export class RunHistory {
  /** list: the <ul>; gallery: the live image gallery (its images open in the lightbox too);
   * app: {openWorkflow(data, name) → Promise, message(text, kind)} */
  constructor(list, gallery, app) {
    this.list = list;
    this.app = app;
    this.key = null;
    this.lightbox = new Lightbox();
    gallery.addEventListener('click', (e) => {
      const image = e.target.closest('[data-gallery-image]');
      if (!image) return;
      e.preventDefault();
      const all = [...gallery.querySelectorAll('[data-gallery-image]')];
      this.lightbox.open(all.map((img) => ({ url: img.src })), all.indexOf(image));
    });
  }

  /** Reads the history again soon; a burst of queue changes makes one request. */
  soon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 250);
  }

  async refresh() {
    let history;
    try { history = await api.history(MAX_RUNS); } catch { return; }
    const runs = Object.entries(history || {}).reverse(); // the server lists oldest first
    const key = runs.map(([id, entry]) => `${id}:${runStatus(entry)}`).join('|');
    if (key === this.key) return;
    this.key = key;
    this.render(runs);
  }

  render(runs) {
    const all = runs.flatMap(([, entry]) => runImages(entry).map((image) => ({ url: image.url, caption: `#${entry.prompt[0]} · ${image.name}` })));
    let first = 0;
    this.list.replaceChildren(...runs.map(([id, entry]) => {
      const images = runImages(entry);
      const start = first;
      first += images.length;
      return this.item(id, entry, images, () => this.lightbox.open(all, start));
    }));
  }

  item(id, entry, images, openImages) {
    const status = runStatus(entry);
    const li = el('li', { 'data-history-id': id, 'data-status': status });
    if (images.length) {
      const thumb = el('img', { src: images[0].url, 'data-history-thumb': '', alt: 'first image of the run', title: `${images.length} image(s): click to view` });
      thumb.addEventListener('click', openImages);
      li.append(thumb);
    } else li.append(el('span', { class: 'no-thumb' }, '—'));
    const facts = el('div', { class: 'history-facts' });
    facts.append(el('span', { 'data-history-status': '' }, `#${entry.prompt[0]} · ${status}`),
      el('time', { 'data-history-time': '' }, timeText(runTime(entry))));
    const load = el('button', { type: 'button', 'data-history-load': '', title: 'Open the workflow this run was made with' }, 'Open workflow');
    load.addEventListener('click', () => this.app.openWorkflow(runWorkflow(entry), `the workflow of run #${entry.prompt[0]}`));
    facts.append(load);
    li.append(facts);
    return li;
  }
}
