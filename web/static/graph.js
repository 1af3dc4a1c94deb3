// The graph model: nodes, links and the rules for changing them. No DOM here.
import { typesMatch } from './types.js';
import { applyOptions, growTo, initialSockets, regrow } from './dynamic.js';
import { newSocket, newWidget } from './slots.js';

export const MODE_NORMAL = 0;
export const MODE_MUTED = 2;
export const MODE_BYPASS = 4;

/** A node built from a spec; widgets hold their values, sockets hold link ids. */
export function nodeFromSpec(spec, id, pos) {
  const node = {
    id,
    type: spec.type,
    title: spec.title,
    specTitle: spec.title,
    pos: [Math.round(pos[0]), Math.round(pos[1])],
    size: [spec.widgets.some((w) => w.options && w.options.multiline) ? 300 : 240, 0],
    mode: MODE_NORMAL,
    flags: {},
    properties: { 'Node name for S&R': spec.type },
    inputs: spec.inputs.flatMap((i) => (i.autogrow ? initialSockets(i) : [newSocket(i)])),
    outputs: spec.outputs.map((o) => ({ name: o.name, type: o.type, isList: o.isList })),
    widgets: spec.widgets.map(newWidget),
  };
  const grow = spec.inputs.filter((i) => i.autogrow);
  if (grow.length) node.grow = grow;
  applyOptions(node);
  return node;
}

export class Graph {
  constructor() { this.clear(); }

  clear() {
    this.nodes = new Map();
    this.links = new Map();
    this.lastNodeId = 0;
    this.lastLinkId = 0;
    this.groups = [];
    this.extra = {};
  }

  addNode(node) {
    if (node.id == null) node.id = ++this.lastNodeId;
    this.lastNodeId = Math.max(this.lastNodeId, node.id);
    this.nodes.set(node.id, node);
    return node;
  }

  removeNode(id) {
    for (const link of [...this.links.values()]) {
      if (link.from === id || link.to === id) this.disconnect(link.id);
    }
    this.nodes.delete(id);
  }

  /** The input socket or widget of a node that a link can end on. */
  target(nodeId, name) {
    const node = this.nodes.get(nodeId);
    if (!node) return null;
    return node.inputs.find((i) => i.name === name) || node.widgets.find((w) => w.name === name) || null;
  }

  /** Why a connection is not allowed, or null when it is. */
  refusal(fromId, fromSlot, toId, toName) {
    const src = this.nodes.get(fromId);
    const dst = this.nodes.get(toId);
    if (!src || !dst) return 'That node no longer exists.';
    if (fromId === toId) return 'A node cannot feed itself.';
    const out = src.outputs[fromSlot];
    const input = this.target(toId, toName);
    if (!out || !input) return 'No such socket.';
    if (!typesMatch(out.type, input.type)) {
      return `Cannot connect ${out.type} output "${out.name}" to ${input.type} input "${input.name}" of ${dst.title}.`;
    }
    if (this.reaches(toId, fromId)) return 'That link would make a loop.';
    return null;
  }

  /** True when a path of links leads from node a to node b. */
  reaches(a, b) {
    const seen = new Set();
    const stack = [a];
    while (stack.length) {
      const id = stack.pop();
      if (id === b) return true;
      if (seen.has(id)) continue;
      seen.add(id);
      for (const l of this.links.values()) if (l.from === id) stack.push(l.to);
    }
    return false;
  }

  /** Links an output to an input; an input holds one link, so an old one is replaced. An autogrow input grows a
   * socket of that name when it has one. */
  connect(fromId, fromSlot, toId, toName, linkId) {
    const node = this.nodes.get(toId);
    if (node && !this.target(toId, toName)) growTo(node, toName);
    const reason = this.refusal(fromId, fromSlot, toId, toName);
    if (reason) {
      if (node) regrow(node);
      return { ok: false, reason };
    }
    const input = this.target(toId, toName);
    if (input.link != null) this.disconnect(input.link);
    const id = linkId ?? ++this.lastLinkId;
    this.lastLinkId = Math.max(this.lastLinkId, id);
    const type = this.nodes.get(fromId).outputs[fromSlot].type;
    this.links.set(id, { id, from: fromId, fromSlot, to: toId, toName, type });
    input.link = id;
    regrow(node);
    return { ok: true, id };
  }

  disconnect(linkId) {
    const link = this.links.get(linkId);
    if (!link) return;
    const input = this.target(link.to, link.toName);
    if (input && input.link === linkId) input.link = null;
    this.links.delete(linkId);
    const node = this.nodes.get(link.to);
    if (node) regrow(node);
  }

  /** After a widget changed: a dynamic combo's option brings its inputs in; true when the node's shape changed. */
  reshape(node) {
    return applyOptions(node, (linkId) => this.disconnect(linkId));
  }

  /** Link ids leaving one output slot. */
  linksFrom(nodeId, slot) {
    return [...this.links.values()].filter((l) => l.from === nodeId && l.fromSlot === slot).map((l) => l.id);
  }
}
