// The list of the canvas's keyboard and mouse shortcuts, opened with "?" and closed with Escape.
import { el } from './dom.js';
import { onOutsideOrEscape } from './popup.js';

/** [keys, what they do]; main.js and canvas.js implement them. */
export const SHORTCUTS = [
  ['Ctrl+Enter', 'Queue the workflow (batch count times)'],
  ['Ctrl+Z / Ctrl+Y (or Ctrl+Shift+Z)', 'Undo / redo'],
  ['Ctrl+C / Ctrl+V', 'Copy / paste the selected nodes'],
  ['Ctrl+A', 'Select every node'],
  ['Delete, Backspace', 'Delete the selected nodes'],
  ['Ctrl+B', 'Bypass the selected nodes (or undo it)'],
  ['Ctrl+M', 'Mute the selected nodes (or undo it)'],
  ['Ctrl+S / Ctrl+O', 'Save the workflow / open a file'],
  ['.', 'Fit the view to the nodes'],
  ['?', 'Show or hide this list'],
  ['Double click', 'Search for a node to add there'],
  ['Right click', 'Node menu, or the canvas menu on empty space'],
  ['Ctrl/Shift + drag', 'Select the nodes in a box'],
  ['Shift/Ctrl + click', 'Add a node to the selection'],
  ['Drag a link to empty space', 'Search for a node that fits, linked on pick'],
  ['Drag a node\'s corner', 'Resize it'],
  ['Wheel / drag the background', 'Zoom / pan'],
];

let open = null;

/** Shows the list, or hides it when it is shown. */
export function toggleShortcutHelp() {
  if (open) { open(); return; }
  const box = el('div', { class: 'popup shortcut-help', 'data-testid': 'shortcut-help' });
  box.append(el('h3', {}, 'Keyboard and mouse shortcuts'));
  const table = el('table');
  for (const [keys, action] of SHORTCUTS) {
    const row = el('tr');
    row.append(el('td', {}, keys), el('td', {}, action));
    table.append(row);
  }
  box.append(table, el('p', { class: 'hint' }, 'Escape closes this list.'));
  document.body.append(box);
  const release = onOutsideOrEscape(box, () => open());
  open = () => { release(); box.remove(); open = null; };
}
