// Draws links as SVG curves between socket positions.

const SVG = 'http://www.w3.org/2000/svg';

/** Cubic curve that leaves an output to the right and enters an input from the left. */
export function curve([x1, y1], [x2, y2]) {
  const dx = Math.max(40, Math.abs(x2 - x1) / 2);
  return `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
}

/** Replaces all link paths. socketPos(nodeId, 'out'|'in', key) → [x, y] in world space. */
export function drawLinks(svg, graph, socketPos) {
  const paths = [];
  for (const link of graph.links.values()) {
    const a = socketPos(link.from, 'out', link.fromSlot);
    const b = socketPos(link.to, 'in', link.toName);
    if (!a || !b) continue;
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', curve(a, b));
    path.setAttribute('class', `link type-${String(link.type).replace(/[^A-Za-z0-9_-]/g, '_')}`);
    path.dataset.linkId = String(link.id);
    path.dataset.from = String(link.from);
    path.dataset.fromSlot = String(link.fromSlot);
    path.dataset.to = String(link.to);
    path.dataset.toInput = link.toName;
    paths.push(path);
  }
  const temp = svg.querySelector('.temp-link');
  svg.replaceChildren(...paths);
  if (temp) svg.append(temp);
}

/** Shows or hides the link being dragged. */
export function drawTempLink(svg, from, to) {
  let path = svg.querySelector('.temp-link');
  if (!from) { path?.remove(); return; }
  if (!path) {
    path = document.createElementNS(SVG, 'path');
    path.setAttribute('class', 'temp-link');
    svg.append(path);
  }
  path.setAttribute('d', curve(from, to));
}
