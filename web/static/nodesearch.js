// Fuzzy node search: the ranking the palette uses too, and the search box that pops up on the canvas (double
// click, "Add node", a link dropped on empty space).
import { typesMatch } from './types.js';
import { el } from './dom.js';
import { floatAt, onOutsideOrEscape } from './popup.js';

/** How well one query word fits a text: 0 whole word start, 1 inside, 2 letters in order; null not at all. */
function wordFit(word, text) {
  const at = text.indexOf(word);
  if (at === 0 || (at > 0 && /[\s/_\-.()]/.test(text[at - 1]))) return 0;
  if (at > 0) return 1;
  let k = 0;
  for (const ch of text) if (ch === word[k]) k++;
  return k === word.length ? 2 : null;
}

/** How well one query word fits a spec: its title or type before its category, a whole word before a part. */
function specFit(word, names, category) {
  const fits = names.map((n) => wordFit(word, n));
  const inCategory = wordFit(word, category);
  if (inCategory !== null) fits.push(inCategory + 3);
  const found = fits.filter((f) => f !== null);
  return found.length ? Math.min(...found) : null;
}

/** Lower is better; null when a word fits none of the title, type and category. Words match in any order. */
export function matchScore(spec, words) {
  const title = spec.title.toLowerCase();
  const type = spec.type.toLowerCase();
  const q = words.join(' ');
  if (type === q || title === q) return 0;
  if (type.startsWith(q) || title.startsWith(q)) return 1;
  let worst = 0;
  for (const word of words) {
    const fit = specFit(word, [title, type], String(spec.category || '').toLowerCase());
    if (fit === null) return null;
    worst = Math.max(worst, fit);
  }
  return 2 + worst;
}

/** The specs that match the query, best first (shorter titles first among equals); all of them for no query. */
export function rankSpecs(specs, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return [...specs].sort((a, b) => a.title.localeCompare(b.title));
  return [...specs].map((s) => [matchScore(s, words), s]).filter(([score]) => score !== null)
    .sort((a, b) => a[0] - b[0] || a[1].title.length - b[1].title.length || a[1].title.localeCompare(b[1].title))
    .map(([, s]) => s);
}

/** Specs with an input (socket or widget) that takes `type`. */
export const takes = (type) => (spec) => [...spec.inputs, ...spec.widgets].some((i) => typesMatch(type, i.type));
/** Specs with an output that can feed an input of `type`. */
export const gives = (type) => (spec) => spec.outputs.some((o) => typesMatch(o.type, type));

const LIMIT = 60;

/** The search box: open(x, y, specs, onPick, {filter, label}) shows it at a client point; Enter picks the
 * highlighted entry (arrows move it), a click picks one, Escape or a click outside closes it. */
export class NodeSearch {
  open(x, y, specs, onPick, { filter = null, label = 'Add node' } = {}) {
    this.close();
    const pool = [...specs.values()].filter((s) => !filter || filter(s));
    const box = el('div', { class: 'popup node-search', 'data-testid': 'node-search' });
    const input = el('input', { type: 'search', placeholder: `${label}: search…`, 'data-testid': 'node-search-input', autocomplete: 'off' });
    const list = el('div', { class: 'node-search-list' });
    box.append(input, list);
    let hits = [];
    let active = 0;
    const show = () => {
      hits = rankSpecs(pool, input.value).slice(0, LIMIT);
      active = 0;
      list.replaceChildren(...hits.map((s, k) => {
        const item = el('button', { class: 'node-search-item', 'data-search-node': s.type }, s.title);
        if (s.title !== s.type) item.append(el('small', {}, ` ${s.type}`));
        item.classList.toggle('active', k === 0);
        item.addEventListener('click', () => pick(s));
        return item;
      }));
      if (!hits.length) list.append(el('p', { class: 'palette-empty' }, 'No node matches.'));
    };
    const pick = (spec) => { this.close(); onPick(spec.type); };
    input.addEventListener('input', show);
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && hits[active]) { e.preventDefault(); pick(hits[active]); }
      else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        active = Math.max(0, Math.min(hits.length - 1, active + (e.key === 'ArrowDown' ? 1 : -1)));
        [...list.children].forEach((c, k) => c.classList.toggle('active', k === active));
        list.children[active]?.scrollIntoView({ block: 'nearest' });
      }
    });
    show();
    floatAt(box, x, y);
    this.release = onOutsideOrEscape(box, () => this.close());
    this.box = box;
    input.focus();
  }

  close() {
    this.release?.();
    this.box?.remove();
    this.box = null;
    this.release = null;
  }
}

/**
 * After a link drag ended on empty space: the search box lists the nodes that fit (an input for a dragged output,
 * an output for a dragged input); the picked node is placed there and linked. end: {fromId, fromSlot} or
 * {toId, toName}; app: the editor (main.js).
 */
export function openLinkSearch(app, end, x, y) {
  const world = app.canvas.toWorld(x, y);
  if (end.toId == null) {
    const type = app.graph.nodes.get(end.fromId)?.outputs[end.fromSlot]?.type;
    if (type == null) return;
    const wire = (node) => {
      const fits = [...node.inputs, ...node.widgets].filter((i) => typesMatch(type, i.type));
      if (fits.length) app.connect(end.fromId, end.fromSlot, node.id, fits[0].name);
    };
    app.searchNode(x, y, world, { filter: takes(type), wire, label: `Takes ${type}` });
  } else {
    const type = app.graph.target(end.toId, end.toName)?.type;
    if (type == null) return;
    const wire = (node) => {
      const slot = node.outputs.findIndex((o) => typesMatch(o.type, type));
      if (slot >= 0) app.connect(node.id, slot, end.toId, end.toName);
    };
    // the new node goes left of the input it feeds
    app.searchNode(x, y, [world[0] - 260, world[1]], { filter: gives(type), wire, label: `Gives ${type}` });
  }
}
