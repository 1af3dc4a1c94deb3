// ComfyUI's V3 dynamic inputs on the canvas: autogrow sockets (one free socket after the last linked one, as
// ComfyUI's editor shows them) and dynamic combos (the chosen option's widgets and sockets follow the combo).
// Match-type sockets are plain sockets of their allowed types (schema.js). Names are the prompt's dotted keys.
import { newSocket, newWidget } from './slots.js';

/** The sockets of one autogrow group, in order. */
function groupSockets(node, group) {
  return node.inputs.filter((i) => i.group === group.name);
}

/** Shows an autogrow group's linked sockets plus one free one (at least `min`, at most all); true if changed. */
function regrowGroup(node, group, atLeast = 0) {
  const sockets = groupSockets(node, group);
  let lastLinked = -1;
  sockets.forEach((s, k) => { if (s.link != null) lastLinked = k; });
  const want = Math.min(group.slots.length, Math.max(group.min, lastLinked + 1, atLeast) + 1);
  if (want === sockets.length) return false;
  const at = node.inputs.indexOf(sockets[sockets.length - 1]) + 1;
  if (want > sockets.length) {
    const added = group.slots.slice(sockets.length, want).map((name, k) => autogrowSocket(group, name, sockets.length + k));
    node.inputs.splice(at, 0, ...added);
  } else {
    const dropped = new Set(sockets.slice(want));
    node.inputs = node.inputs.filter((i) => !dropped.has(i));
  }
  return true;
}

function autogrowSocket(group, name, index) {
  return { ...newSocket({ name, type: group.type, optional: group.optional || index >= group.min }), group: group.name };
}

/** The first sockets of a new node's autogrow input. */
export function initialSockets(description) {
  const count = Math.min(description.slots.length, Math.max(description.min, 0) + 1);
  return description.slots.slice(0, count).map((name, k) => autogrowSocket(description, name, k));
}

/** Grows the autogrow group that `name` belongs to so that a socket of that name exists; true if it does now. */
export function growTo(node, name) {
  for (const group of node.grow || []) {
    const index = group.slots.indexOf(name);
    if (index >= 0) {
      regrowGroup(node, group, index);
      return true;
    }
  }
  return false;
}

/** Every autogrow group back to its linked sockets plus one free; true if any changed. */
export function regrow(node) {
  let changed = false;
  for (const group of node.grow || []) changed = regrowGroup(node, group) || changed;
  return changed;
}

function directChild(name, prefix) {
  return name.startsWith(prefix) && !name.slice(prefix.length).includes('.');
}

/** Brings each dynamic combo's chosen option in (its widgets right after the combo, its sockets after the other
 * sockets) and drops what another option brought, unlinking it through `unlink(linkId)`; true if anything changed. */
export function applyOptions(node, unlink = () => {}) {
  let changed = false;
  for (let k = 0; k < node.widgets.length; k++) {
    const combo = node.widgets[k];
    if (!combo.dynamic) continue;
    const prefix = `${combo.name}.`;
    const chosen = combo.dynamic[String(combo.value)] || [];
    const present = [...node.widgets, ...node.inputs].filter((x) => directChild(x.name, prefix)).map((x) => x.name);
    if (present.join('|') === chosen.map((d) => d.name).join('|')) continue;
    for (const x of [...node.widgets, ...node.inputs]) if (x.name.startsWith(prefix) && x.link != null) unlink(x.link);
    node.widgets = node.widgets.filter((w) => !w.name.startsWith(prefix));
    node.inputs = node.inputs.filter((i) => !i.name.startsWith(prefix));
    node.widgets.splice(k + 1, 0, ...chosen.filter((d) => d.widget).map(newWidget));
    node.inputs.push(...chosen.filter((d) => !d.widget).map(newSocket));
    changed = true;
  }
  return changed;
}
