// The text-to-image workflow a new user starts with, built from the server's own node list.
import { nodeFromSpec } from './graph.js';

const LAYOUT = [
  ['CheckpointLoaderSimple', [20, 240]],
  ['CLIPTextEncode', [340, 20]],
  ['CLIPTextEncode', [340, 290]],
  ['EmptyLatentImage', [340, 560]],
  ['KSampler', [720, 100]],
  ['VAEDecode', [1040, 100]],
  ['SaveImage', [1040, 230]],
];

const LINKS = [
  // [from node index, output slot, to node index, input name]
  [0, 0, 4, 'model'], [0, 1, 1, 'clip'], [0, 1, 2, 'clip'], [1, 0, 4, 'positive'], [2, 0, 4, 'negative'],
  [3, 0, 4, 'latent_image'], [4, 0, 5, 'samples'], [0, 2, 5, 'vae'], [5, 0, 6, 'images'],
];

function setWidget(node, name, value) {
  const w = node.widgets.find((x) => x.name === name);
  if (w) w.value = value;
}

/** Fills the graph with the default workflow; returns false when the server lacks a needed node. */
export function buildDefaultGraph(graph, specs) {
  if (!LAYOUT.every(([type]) => specs.has(type))) return false;
  graph.clear();
  const nodes = LAYOUT.map(([type, pos]) => graph.addNode(nodeFromSpec(specs.get(type), null, pos)));
  setWidget(nodes[1], 'text', 'beautiful scenery nature glass bottle landscape, purple galaxy bottle');
  setWidget(nodes[2], 'text', 'text, watermark');
  for (const [a, slot, b, name] of LINKS) graph.connect(nodes[a].id, slot, nodes[b].id, name);
  return true;
}
