// The editing surface: pan/zoom, node dragging, selection and link dragging.
import { buildNodeElement, applyNodeState } from './nodeview.js';
import { drawLinks, drawTempLink } from './links.js';
import { typesMatch } from './types.js';
import { BoxSelect, NodeResize } from './selection.js';

export class CanvasView {
  /** app: {graph, runState, connect() → refusal or null, disconnect(id), changed(), commit(), widgetInput(node), widgetCommit(node), refused(message, el), viewChanged(), linkReleased(end, x, y)} */
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.view = { x: 0, y: 0, scale: 1 };
    this.selected = new Set();
    this.drag = null;
    this.world = root.querySelector('.world');
    this.groupLayer = root.querySelector('.groups');
    this.svg = root.querySelector('svg.links');
    this.nodeLayer = root.querySelector('.nodes');
    root.addEventListener('pointerdown', (e) => this.pointerDown(e));
    window.addEventListener('pointermove', (e) => this.pointerMove(e));
    window.addEventListener('pointerup', (e) => this.pointerUp(e));
    root.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
  }

  // ---- drawing -------------------------------------------------------------

  render() {
    const graph = this.app.graph;
    for (const id of [...this.selected]) if (!graph.nodes.has(id)) this.selected.delete(id);
    const hooks = { widgetInput: (n) => this.app.widgetInput(n), widgetCommit: (n) => this.app.widgetCommit(n) };
    this.nodeLayer.replaceChildren(...[...graph.nodes.values()].map((node) => {
      const element = buildNodeElement(node, hooks);
      element.classList.toggle('selected', this.selected.has(node.id));
      applyNodeState(element, this.app.runState.get(node.id));
      return element;
    }));
    this.groupLayer.replaceChildren(...graph.groups.map((g) => this.groupElement(g)));
    this.applyView();
    this.redrawLinks();
  }

  groupElement(group) {
    const [x, y, w, h] = group.bounding || [0, 0, 100, 100];
    const div = document.createElement('div');
    div.className = 'group';
    Object.assign(div.style, { left: `${x}px`, top: `${y}px`, width: `${w}px`, height: `${h}px`, borderColor: group.color || '' });
    div.textContent = group.title || '';
    return div;
  }

  nodeElement(id) { return this.nodeLayer.querySelector(`[data-node-id="${id}"]`); }

  /** Re-applies run state to one node without rebuilding it (keeps focus in its inputs). */
  refreshState(id) {
    const element = this.nodeElement(id);
    if (element) applyNodeState(element, this.app.runState.get(id));
  }

  refreshAllStates() { for (const id of this.app.graph.nodes.keys()) this.refreshState(id); }

  applyView() {
    const { x, y, scale } = this.view;
    this.world.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    this.root.style.backgroundPosition = `${x}px ${y}px`;
    this.root.style.backgroundSize = `${20 * scale}px ${20 * scale}px`;
  }

  toWorld(clientX, clientY) {
    const r = this.root.getBoundingClientRect();
    return [(clientX - r.left - this.view.x) / this.view.scale, (clientY - r.top - this.view.y) / this.view.scale];
  }

  socketPos(nodeId, side, key) {
    const node = this.nodeElement(nodeId);
    if (!node) return null;
    const socket = side === 'out'
      ? node.querySelector(`[data-output="${key}"] .socket`)
      : node.querySelector(`[data-input="${CSS.escape(key)}"] .socket, .widget[data-widget="${CSS.escape(key)}"] .widget-socket`);
    if (!socket) return null;
    const r = socket.getBoundingClientRect();
    return this.toWorld(r.left + r.width / 2, r.top + r.height / 2);
  }

  redrawLinks() { drawLinks(this.svg, this.app.graph, (id, side, key) => this.socketPos(id, side, key)); }

  /** Node sizes on screen, saved so files opened elsewhere look right. */
  measureNodes() {
    for (const node of this.app.graph.nodes.values()) {
      const element = this.nodeElement(node.id);
      if (element) node.size = [node.size[0], Math.round(element.querySelector('.node-main').offsetHeight)];
    }
  }

  /** The first spot in view, scanning from the top left, where a new node overlaps nothing. */
  freeSpot(w = 260, h = 200) {
    const r = this.root.getBoundingClientRect();
    const [left, top] = this.toWorld(r.left + 20, r.top + 20);
    const [right, bottom] = this.toWorld(r.right - 20, r.bottom - 20);
    const boxes = [...this.nodeLayer.children].map((e) => [e.offsetLeft, e.offsetTop, e.offsetWidth, e.offsetHeight]);
    const gap = 20;
    const free = (x, y) => boxes.every(([bx, by, bw, bh]) => x + w + gap <= bx || bx + bw + gap <= x || y + h + gap <= by || by + bh + gap <= y);
    const step = 40 / this.view.scale;
    for (let y = top; y + h <= bottom; y += step) {
      for (let x = left; x + w <= right; x += step) if (free(x, y)) return [x, y];
    }
    // A full view: cascade from the top left so the node is at least visible.
    return [left + 30 * (boxes.length % 10), top + 30 * (boxes.length % 10)];
  }

  /** Zooms and pans so every node is visible. */
  fitView(maxScale = 1) {
    const nodes = [...this.nodeLayer.children];
    if (!nodes.length) return;
    const left = Math.min(...nodes.map((e) => e.offsetLeft));
    const top = Math.min(...nodes.map((e) => e.offsetTop));
    const right = Math.max(...nodes.map((e) => e.offsetLeft + e.offsetWidth));
    const bottom = Math.max(...nodes.map((e) => e.offsetTop + e.offsetHeight));
    const r = this.root.getBoundingClientRect();
    const margin = 30;
    const scale = Math.min(maxScale, (r.width - 2 * margin) / (right - left), (r.height - 2 * margin) / (bottom - top));
    this.view = { scale, x: margin - left * scale, y: margin - top * scale };
    this.applyView();
    this.redrawLinks();
  }

  // ---- selection -----------------------------------------------------------

  select(id, additive) {
    if (!additive) this.selected.clear();
    if (id != null) this.selected.add(id);
    for (const element of this.nodeLayer.children) {
      element.classList.toggle('selected', this.selected.has(Number(element.dataset.nodeId)));
    }
  }

  // ---- pointer handling ----------------------------------------------------

  pointerDown(e) {
    if (e.button !== 0 && e.button !== 1) return;
    const nodeEl = e.target.closest('.node');
    const nodeId = nodeEl ? Number(nodeEl.dataset.nodeId) : null;
    const out = e.target.closest('.slot.out');
    if (out && e.button === 0) {
      e.preventDefault();
      this.startLinkDrag(nodeId, Number(out.dataset.output), e);
      return;
    }
    const inSocket = e.target.closest('.slot.in .socket, .widget-socket');
    if (inSocket && e.button === 0) {
      const slot = inSocket.closest('[data-input], [data-widget]');
      const name = slot.dataset.input ?? slot.dataset.widget;
      const input = this.app.graph.target(nodeId, name);
      if (input && input.link != null) {
        // Picking up a connected input detaches it and keeps dragging from its source.
        e.preventDefault();
        const link = this.app.graph.links.get(input.link);
        this.app.disconnect(link.id);
        this.startLinkDrag(link.from, link.fromSlot, e);
        this.drag.detached = true;
        return;
      }
      if (input) {
        e.preventDefault();
        this.startInputDrag(nodeId, name, e);
        return;
      }
    }
    if (e.target.closest('[data-resize-handle]') && e.button === 0) {
      e.preventDefault();
      this.drag = new NodeResize(this, nodeId, e);
      return;
    }
    if (nodeEl) {
      if (!this.selected.has(nodeId) || e.shiftKey || e.ctrlKey) this.select(nodeId, e.shiftKey || e.ctrlKey);
      if (e.target.closest('[data-drag-handle]')) {
        e.preventDefault();
        document.activeElement?.blur?.(); // so Ctrl+C etc. act on the node, not on a text field
        this.drag = { kind: 'node', last: [e.clientX, e.clientY], moved: false };
      }
      return;
    }
    // Empty space: pan the view.
    e.preventDefault();
    document.activeElement?.blur?.();
    if ((e.shiftKey || e.ctrlKey) && e.button === 0) {
      this.drag = new BoxSelect(this, e);
      return;
    }
    this.select(null, false);
    this.drag = { kind: 'pan', last: [e.clientX, e.clientY] };
  }

  startLinkDrag(fromId, fromSlot, e) {
    const start = this.socketPos(fromId, 'out', fromSlot);
    this.drag = { kind: 'link', fromId, fromSlot, start };
    drawTempLink(this.svg, start, this.toWorld(e.clientX, e.clientY));
    this.root.classList.add('linking');
    this.markCompatible(fromId, fromSlot);
  }

  /** A drag from a free input: it ends on an output (or anywhere on a node) that can feed it. */
  startInputDrag(toId, toName, e) {
    const end = this.socketPos(toId, 'in', toName);
    this.drag = { kind: 'link', toId, toName, inputPos: end };
    drawTempLink(this.svg, this.toWorld(e.clientX, e.clientY), end);
    this.root.classList.add('linking');
    const type = this.app.graph.target(toId, toName)?.type;
    for (const slot of this.nodeLayer.querySelectorAll('.slot.out')) slot.classList.toggle('fits', typesMatch(slot.dataset.type, type));
  }

  /** Dims inputs that cannot take the dragged output, so the user sees where it fits. */
  markCompatible(fromId, fromSlot) {
    const out = this.app.graph.nodes.get(fromId)?.outputs[fromSlot];
    for (const slot of this.nodeLayer.querySelectorAll('.slot.in[data-input], .widget[data-widget]')) {
      const fits = out && typesMatch(out.type, slot.dataset.type || slot.dataset.kind);
      slot.classList.toggle('fits', !!fits);
    }
  }

  pointerMove(e) {
    const d = this.drag;
    if (!d) return;
    if (d.move) { d.move(e); return; }
    if (d.kind === 'link') {
      const pointer = this.toWorld(e.clientX, e.clientY);
      if (d.toId != null) drawTempLink(this.svg, pointer, d.inputPos);
      else drawTempLink(this.svg, d.start, pointer);
      return;
    }
    const dx = e.clientX - d.last[0];
    const dy = e.clientY - d.last[1];
    d.last = [e.clientX, e.clientY];
    if (d.kind === 'pan') {
      this.view.x += dx;
      this.view.y += dy;
      this.applyView();
    } else if (d.kind === 'node') {
      d.moved = true;
      for (const id of this.selected) {
        const node = this.app.graph.nodes.get(id);
        node.pos = [node.pos[0] + dx / this.view.scale, node.pos[1] + dy / this.view.scale];
        const element = this.nodeElement(id);
        element.style.left = `${node.pos[0]}px`;
        element.style.top = `${node.pos[1]}px`;
      }
      this.redrawLinks();
    }
  }

  pointerUp(e) {
    const d = this.drag;
    this.drag = null;
    if (!d) return;
    if (d.end instanceof Function) { d.end(e); return; }
    if (d.kind === 'pan') this.app.viewChanged();
    if (d.kind === 'node' && d.moved) {
      for (const id of this.selected) {
        const node = this.app.graph.nodes.get(id);
        node.pos = node.pos.map(Math.round);
      }
      this.app.commit();
    }
    if (d.kind === 'link') {
      drawTempLink(this.svg, null);
      this.root.classList.remove('linking');
      for (const s of this.nodeLayer.querySelectorAll('.fits')) s.classList.remove('fits');
      const target = document.elementFromPoint(e.clientX, e.clientY);
      const refusal = d.toId != null ? this.dropInputLink(d, target) : this.dropLink(d, target);
      this.app.changed();
      if (refusal) this.app.refused(refusal.reason, this.dropTargetElement(refusal.nodeId, refusal.name));
      else if (!d.detached && target && this.root.contains(target) && !target.closest('.node')) {
        this.app.linkReleased(d.toId != null ? { toId: d.toId, toName: d.toName } : { fromId: d.fromId, fromSlot: d.fromSlot },
          e.clientX, e.clientY);
      }
    }
  }

  /**
   * Ends a link drag on an input, a widget, or anywhere on a node (first input that fits).
   * Returns {reason, nodeId, name} when the link was refused.
   */
  dropLink(d, target) {
    const nodeEl = target && target.closest('.node');
    if (!nodeEl) return null;
    const toId = Number(nodeEl.dataset.nodeId);
    const slot = target.closest('[data-input]') || target.closest('.widget[data-widget]:not([data-control-for])');
    let name = slot ? (slot.dataset.input ?? slot.dataset.widget) : null;
    if (!name) {
      const node = this.app.graph.nodes.get(toId);
      const out = this.app.graph.nodes.get(d.fromId)?.outputs[d.fromSlot];
      const fits = node.inputs.filter((i) => out && typesMatch(out.type, i.type));
      const pick = fits.find((i) => i.link == null) || fits[0];
      if (!pick) return { reason: `No input of ${node.title} accepts ${out ? out.type : 'that output'}.`, nodeId: toId, name: null };
      name = pick.name;
    }
    const reason = this.app.connect(d.fromId, d.fromSlot, toId, name);
    return reason ? { reason, nodeId: toId, name } : null;
  }

  /** Ends a drag from an input on an output, or anywhere on a node (its first output that fits). */
  dropInputLink(d, target) {
    const nodeEl = target && target.closest('.node');
    if (!nodeEl) return null;
    const fromId = Number(nodeEl.dataset.nodeId);
    if (fromId === d.toId) return null;  // let go on its own node: a click on the socket, no link meant
    const out = target.closest('.slot.out');
    let slot = out ? Number(out.dataset.output) : -1;
    if (!out) {
      const type = this.app.graph.target(d.toId, d.toName)?.type;
      const source = this.app.graph.nodes.get(fromId);
      slot = source.outputs.findIndex((o) => typesMatch(o.type, type));
      if (slot < 0) return { reason: `No output of ${source.title} gives ${type}.`, nodeId: d.toId, name: d.toName };
    }
    const reason = this.app.connect(fromId, slot, d.toId, d.toName);
    return reason ? { reason, nodeId: d.toId, name: d.toName } : null;
  }

  /** The element a refused link was aimed at, found again after a re-render. */
  dropTargetElement(nodeId, name) {
    const node = this.nodeElement(nodeId);
    if (!node || name == null) return node;
    return node.querySelector(`[data-input="${CSS.escape(name)}"], .widget[data-widget="${CSS.escape(name)}"]`) || node;
  }

  wheel(e) {
    if (e.target.closest('textarea, select')) return; // let those scroll
    e.preventDefault();
    const r = this.root.getBoundingClientRect();
    const [wx, wy] = this.toWorld(e.clientX, e.clientY);
    const factor = Math.exp(-e.deltaY * 0.0015);
    this.view.scale = Math.min(3, Math.max(0.15, this.view.scale * factor));
    // Keep the point under the cursor still while zooming.
    this.view.x = e.clientX - r.left - wx * this.view.scale;
    this.view.y = e.clientY - r.top - wy * this.view.scale;
    this.applyView();
    this.redrawLinks();
    this.app.viewChanged();
  }
}
