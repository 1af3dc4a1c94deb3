// The right-click menus: on a node (bypass, mute, delete, copy, colour, title) and on empty canvas (add node,
// paste, fit view). Node entries act on the selection, as in ComfyUI; the clicked node joins it first.
import { MODE_BYPASS, MODE_MUTED } from './graph.js';
import { askText } from './dialogs.js';
import { el } from './dom.js';
import { floatAt, onOutsideOrEscape } from './popup.js';

/** ComfyUI's node colours: title bar (color) and body (bgcolor), saved as such in the workflow. */
export const NODE_COLORS = {
  red: { color: '#322', bgcolor: '#533' },
  brown: { color: '#332922', bgcolor: '#593930' },
  green: { color: '#232', bgcolor: '#353' },
  blue: { color: '#223', bgcolor: '#335' },
  pale_blue: { color: '#2a363b', bgcolor: '#3f5159' },
  cyan: { color: '#233', bgcolor: '#355' },
  purple: { color: '#323', bgcolor: '#535' },
  yellow: { color: '#432', bgcolor: '#653' },
  black: { color: '#222', bgcolor: '#000' },
};

/** Shows a menu of [label, key, action] rows (null for a separator) at a client point. */
function showMenu(x, y, rows) {
  const menu = el('div', { class: 'popup context-menu', 'data-testid': 'context-menu' });
  let release = null;
  const close = () => { release(); menu.remove(); };
  for (const row of rows) {
    if (!row) { menu.append(el('hr')); continue; }
    const [label, key, action] = row;
    const item = el('button', { class: 'menu-item', 'data-menu-item': key }, label);
    item.addEventListener('click', () => { close(); action(); });
    menu.append(item);
  }
  floatAt(menu, x, y);
  release = onOutsideOrEscape(menu, close);
  return menu;
}

/** The colour swatches, as a second menu where the Colour entry was. */
function colorMenu(app, x, y) {
  const rows = Object.entries(NODE_COLORS).map(([name, colors]) => [name.replace('_', ' '), `color-${name}`, () => app.setNodeColors(colors)]);
  showMenu(x, y, [['no colour', 'color-none', () => app.setNodeColors(null)], ...rows]);
}

/** Opens the menu for a right click on the canvas at client (x, y). app: the editor (main.js). */
export function openContextMenu(app, e) {
  const nodeEl = e.target.closest('.node');
  const world = app.canvas.toWorld(e.clientX, e.clientY);
  const { clientX: x, clientY: y } = e;
  if (!nodeEl) {
    showMenu(x, y, [
      ['Add node', 'add-node', () => app.searchNode(x, y, world)],
      ['Paste', 'paste', () => { app.pointerWorld = world; app.paste(); }],
      ['Fit view', 'fit-view', () => { app.canvas.fitView(); app.persist(); }],
    ]);
    return;
  }
  const id = Number(nodeEl.dataset.nodeId);
  if (!app.canvas.selected.has(id)) app.canvas.select(id, false);
  const node = app.graph.nodes.get(id);
  showMenu(x, y, [
    [node.mode === MODE_BYPASS ? 'Remove bypass' : 'Bypass', 'bypass', () => app.toggleMode(MODE_BYPASS)],
    [node.mode === MODE_MUTED ? 'Unmute' : 'Mute', 'mute', () => app.toggleMode(MODE_MUTED)],
    null,
    ['Title…', 'title', () => renameNode(app, node)],
    ['Colour…', 'color', () => colorMenu(app, x, y)],
    null,
    ['Copy', 'copy', () => app.copySelected()],
    ['Delete', 'delete', () => app.deleteSelected()],
  ]);
}

/** Asks for a node's new title; an empty answer gives it back its class's title. */
async function renameNode(app, node) {
  const title = await askText('Node title', node.title);
  if (title === null || !app.graph.nodes.has(node.id)) return;
  node.title = title || node.specTitle;
  app.changed();
}
