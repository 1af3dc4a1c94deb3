// The queue view (running and pending prompts) and the gallery of recent images.
import { api } from './api.js';
import { el } from './dom.js';

export class QueuePanel {
  constructor(root, onError) {
    this.root = root;
    this.onError = onError;
    this.running = root.querySelector('[data-testid="queue-running"]');
    this.pending = root.querySelector('[data-testid="queue-pending"]');
    this.count = document.querySelector('[data-testid="queue-count"]');
    this.gallery = document.querySelector('[data-testid="gallery"]');
    this.latestRequest = 0;
  }

  item(entry, pending) {
    const [number, promptId, prompt] = entry;
    const li = el('li', { 'data-prompt-id': promptId });
    li.append(el('span', {}, `#${number} · ${Object.keys(prompt || {}).length} nodes`));
    if (pending) {
      const del = el('button', { 'data-queue-delete': promptId, title: 'Remove from queue' }, '✕');
      del.addEventListener('click', async () => {
        try { await api.deleteFromQueue([promptId]); } catch (e) { this.onError(e.message); }
        this.refresh();
      });
      li.append(del);
    }
    return li;
  }

  /** Shows the server's queue; an answer that comes back after a newer request's is stale and dropped. */
  async refresh() {
    const request = ++this.latestRequest;
    let queue;
    try { queue = await api.queue(); } catch (e) { return; }
    if (request !== this.latestRequest) return;
    const running = queue.queue_running || [];
    const pending = (queue.queue_pending || []).slice().sort((a, b) => a[0] - b[0]);
    this.running.replaceChildren(...running.map((q) => this.item(q, false)));
    this.pending.replaceChildren(...pending.map((q) => this.item(q, true)));
    this.count.textContent = String(running.length + pending.length);
  }

  async clear() {
    try { await api.clearQueue(); } catch (e) { this.onError(e.message); }
    this.refresh();
  }

  /** Adds an image to the gallery, with a note under it when one is due (the demo checkpoint's noise). */
  addImage(url, note) {
    const item = el('figure', { class: note ? 'gallery-item noted' : 'gallery-item' });
    const link = el('a', { href: url, target: '_blank' });
    link.append(el('img', { src: url, 'data-gallery-image': '', alt: 'generated image' }));
    item.append(link);
    if (note) item.append(el('figcaption', { class: 'image-note', 'data-image-note': '' }, note));
    this.gallery.prepend(item);
    while (this.gallery.children.length > 24) this.gallery.lastChild.remove();
  }
}
