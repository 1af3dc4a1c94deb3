// Two canvas drags with a job of their own: a box that selects the nodes it touches (Ctrl or Shift held on empty
// canvas, as in LiteGraph), and a node's bottom-right corner that resizes it. canvas.js hands each drag its
// pointer moves and its release.

const MIN_WIDTH = 140;
const MIN_HEIGHT = 40;

/** A selection box from a press on empty canvas. Shift adds to the selection, Ctrl replaces it. */
export class BoxSelect {
  constructor(view, e) {
    this.view = view;
    this.additive = e.shiftKey;
    this.start = [e.clientX, e.clientY];
    this.box = document.createElement('div');
    this.box.className = 'select-box';
    this.box.dataset.testid = 'select-box';
    view.root.append(this.box);
    this.move(e);
  }

  move(e) {
    const r = this.view.root.getBoundingClientRect();
    const [x0, y0] = this.start;
    Object.assign(this.box.style, {
      left: `${Math.min(x0, e.clientX) - r.left}px`, top: `${Math.min(y0, e.clientY) - r.top}px`,
      width: `${Math.abs(e.clientX - x0)}px`, height: `${Math.abs(e.clientY - y0)}px`,
    });
  }

  end(e) {
    this.box.remove();
    const [ax, ay] = this.view.toWorld(...this.start);
    const [bx, by] = this.view.toWorld(e.clientX, e.clientY);
    const [left, right, top, bottom] = [Math.min(ax, bx), Math.max(ax, bx), Math.min(ay, by), Math.max(ay, by)];
    if (!this.additive) this.view.selected.clear();
    for (const element of this.view.nodeLayer.children) {
      const x = element.offsetLeft;
      const y = element.offsetTop;
      if (x < right && x + element.offsetWidth > left && y < bottom && y + element.offsetHeight > top) {
        this.view.selected.add(Number(element.dataset.nodeId));
      }
    }
    this.view.select(null, true);
  }
}

/** Dragging a node's corner: width and height follow the pointer; the size is saved with the workflow. */
export class NodeResize {
  constructor(view, nodeId, e) {
    this.view = view;
    this.node = view.app.graph.nodes.get(nodeId);
    this.element = view.nodeElement(nodeId);
    this.main = this.element.querySelector('.node-main');
    this.start = [e.clientX, e.clientY, this.element.offsetWidth, this.main.offsetHeight];
  }

  move(e) {
    const [x0, y0, w0, h0] = this.start;
    const scale = this.view.view.scale;
    const width = Math.round(Math.max(MIN_WIDTH, w0 + (e.clientX - x0) / scale));
    const height = Math.round(Math.max(MIN_HEIGHT, h0 + (e.clientY - y0) / scale));
    this.node.size = [width, height];
    this.element.style.width = `${width}px`;
    this.main.style.minHeight = `${height}px`;
    this.view.redrawLinks();
  }

  end() { this.view.app.commit(); }
}
