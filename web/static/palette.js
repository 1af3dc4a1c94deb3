// The node palette: search box plus a category tree built from object_info.
import { el } from './dom.js';
import { rankSpecs } from './nodesearch.js';

function entry(spec, onPick) {
  const button = el('button', { class: 'palette-item', 'data-palette-node': spec.type, title: spec.description || spec.type }, spec.title);
  if (spec.title !== spec.type) button.append(el('small', {}, spec.type));
  button.addEventListener('click', () => onPick(spec.type));
  return button;
}

/** Nests specs by their "/"-separated category path. */
function categoryTree(specs) {
  const root = { children: new Map(), items: [] };
  for (const spec of specs) {
    let level = root;
    for (const part of (spec.category || 'uncategorized').split('/').filter(Boolean)) {
      if (!level.children.has(part)) level.children.set(part, { children: new Map(), items: [] });
      level = level.children.get(part);
    }
    level.items.push(spec);
  }
  return root;
}

function treeElement(level, onPick, path = '') {
  const frag = document.createDocumentFragment();
  for (const [name, child] of [...level.children].sort((a, b) => a[0].localeCompare(b[0]))) {
    const full = path ? `${path}/${name}` : name;
    const details = el('details', { class: 'palette-category', 'data-category': full });
    details.append(el('summary', {}, name), treeElement(child, onPick, full));
    frag.append(details);
  }
  for (const spec of level.items.sort((a, b) => a.title.localeCompare(b.title))) frag.append(entry(spec, onPick));
  return frag;
}

export class Palette {
  constructor(root, onPick) {
    this.root = root;
    this.onPick = onPick;
    this.search = root.querySelector('[data-testid="palette-search"]');
    this.list = root.querySelector('.palette-list');
    this.specs = new Map();
    this.search.addEventListener('input', () => this.render());
    this.search.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        const first = this.list.querySelector('.palette-item');
        if (first) first.click();
      } else if (e.key === 'Escape') {
        this.search.value = '';
        this.render();
      }
    });
  }

  setSpecs(specs) {
    this.specs = specs;
    this.render();
  }

  render() {
    const specs = [...this.specs.values()];
    if (!this.search.value.trim()) {
      this.list.replaceChildren(treeElement(categoryTree(specs), this.onPick));
      return;
    }
    const hits = rankSpecs(specs, this.search.value);
    this.list.replaceChildren(...hits.map((s) => entry(s, this.onPick)));
    if (!hits.length) this.list.append(el('p', { class: 'palette-empty' }, 'No node matches.'));
  }
}
