// The node palette: search box plus a category tree built from object_info.

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

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

/** Lower score is a better match; null when it does not match at all. */
function matchScore(spec, words) {
  const hay = `${spec.title} ${spec.type} ${spec.category}`.toLowerCase();
  if (!words.every((w) => hay.includes(w))) return null;
  const title = spec.title.toLowerCase();
  const type = spec.type.toLowerCase();
  const q = words.join(' ');
  if (type === q || title === q) return 0;
  if (type.startsWith(q) || title.startsWith(q)) return 1;
  return 2;
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

  focus() {
    this.search.focus();
    this.search.select();
  }

  render() {
    const words = this.search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const specs = [...this.specs.values()];
    if (!words.length) {
      this.list.replaceChildren(treeElement(categoryTree(specs), this.onPick));
      return;
    }
    const hits = specs.map((s) => [matchScore(s, words), s]).filter(([score]) => score !== null)
      .sort((a, b) => a[0] - b[0] || a[1].title.localeCompare(b[1].title));
    this.list.replaceChildren(...hits.map(([, s]) => entry(s, this.onPick)));
    if (!hits.length) this.list.append(el('p', { class: 'palette-empty' }, 'No node matches.'));
  }
}
