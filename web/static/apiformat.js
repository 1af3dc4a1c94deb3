// Converts the editor graph into the API format the server runs.
import { MODE_MUTED, MODE_BYPASS } from './graph.js';
import { typesMatch } from './types.js';

/** Follows a link back to a real producing node: through bypassed nodes and reroutes. */
function resolveLink(graph, linkId, seen = new Set()) {
  const link = graph.links.get(linkId);
  if (!link || seen.has(linkId)) return undefined;
  seen.add(linkId);
  const src = graph.nodes.get(link.from);
  if (!src || src.mode === MODE_MUTED) return undefined;
  if (src.type === 'Reroute') {
    const input = src.inputs[0];
    return input && input.link != null ? resolveLink(graph, input.link, seen) : undefined;
  }
  if (src.type === 'PrimitiveNode') return { literal: src.rawWidgets[0] };
  if (src.mode === MODE_BYPASS) {
    const out = src.outputs[link.fromSlot];
    // Same rule as ComfyUI: the input at the same index if its type fits, else the first that fits.
    const candidates = [src.inputs[link.fromSlot], ...src.inputs].filter(Boolean);
    const pass = candidates.find((i) => i.link != null && typesMatch(out.type, i.type) && typesMatch(graph.links.get(i.link)?.type, out.type));
    return pass ? resolveLink(graph, pass.link, seen) : undefined;
  }
  return { link: [String(src.id), link.fromSlot] };
}

/** The inputs object of one node in API format. */
function apiInputs(graph, node) {
  const inputs = {};
  const put = (name, linkId) => {
    const r = resolveLink(graph, linkId);
    if (r) inputs[name] = r.literal !== undefined ? r.literal : r.link;
  };
  for (const w of node.widgets) {
    if (w.link != null) put(w.name, w.link);
    else inputs[w.name] = w.value;
  }
  for (const i of node.inputs) if (i.link != null) put(i.name, i.link);
  return inputs;
}

/** {id: {class_type, inputs, _meta}} for every node that runs. */
export function toApiPrompt(graph) {
  const prompt = {};
  for (const node of graph.nodes.values()) {
    if (node.mode === MODE_MUTED || node.mode === MODE_BYPASS || node.editorOnly) continue;
    prompt[String(node.id)] = { inputs: apiInputs(graph, node), class_type: node.type, _meta: { title: node.title } };
  }
  return prompt;
}
