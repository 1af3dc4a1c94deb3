// One image large over the page, with previous/next through a list; Escape, the close button or the backdrop close it.
import { el } from './dom.js';

export class Lightbox {
  constructor() {
    this.items = [];
    this.index = 0;
    this.root = el('div', { class: 'lightbox', 'data-testid': 'lightbox', hidden: '' });
    this.image = el('img', { 'data-lightbox-image': '', alt: 'generated image' });
    this.caption = el('div', { class: 'lightbox-caption', 'data-lightbox-caption': '' });
    const button = (action, text, title) => {
      const b = el('button', { type: 'button', 'data-lightbox': action, title }, text);
      b.addEventListener('click', (e) => { e.stopPropagation(); this[action](); });
      return b;
    };
    this.root.append(button('previous', '‹', 'Previous (←)'), this.image, button('next', '›', 'Next (→)'),
      button('close', '✕', 'Close (Escape)'), this.caption);
    this.root.addEventListener('click', (e) => { if (e.target === this.root) this.close(); });
    document.body.append(this.root);
    // Capture: while it is open no key reaches the editor (Delete would remove nodes behind it).
    window.addEventListener('keydown', (e) => this.key(e), true);
  }

  get isOpen() { return !this.root.hidden; }

  /** items: [{url, caption}] */
  open(items, index = 0) {
    if (!items.length) return;
    this.items = items;
    this.root.hidden = false;
    this.show(index);
  }

  show(index) {
    const count = this.items.length;
    this.index = ((index % count) + count) % count;
    const item = this.items[this.index];
    this.image.src = item.url;
    this.caption.textContent = `${this.index + 1} / ${count}${item.caption ? ` · ${item.caption}` : ''}`;
  }

  next() { this.show(this.index + 1); }
  previous() { this.show(this.index - 1); }

  close() {
    this.root.hidden = true;
    this.image.removeAttribute('src');
  }

  key(e) {
    if (!this.isOpen) return;
    e.stopPropagation();
    if (e.key === 'Escape') this.close();
    else if (e.key === 'ArrowRight') this.next();
    else if (e.key === 'ArrowLeft') this.previous();
    else return;
    e.preventDefault();
  }
}
