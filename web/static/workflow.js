// ComfyUI's UI workflow format (version 0.4): save the graph to it and load it back.
import { nodeFromSpec } from './graph.js';
import { applyOptions } from './dynamic.js';
import { SEED_CONTROLS } from './schema.js';
import { dsFromView } from './viewds.js';

/** Inputs as a saved node lists them: sockets, then widgets driven by a link. */
function savedInputs(node) {
  if (node.missing) return node.inputs.map((i) => ({ ...i.saved, name: i.name, type: i.type, link: i.link }));
  return [
    ...node.inputs.map((i) => ({ name: i.name, type: i.type, link: i.link })),
    ...node.widgets.filter((w) => w.link != null).map((w) => ({ name: w.name, type: w.type, link: w.link, widget: { name: w.name } })),
  ];
}

/** widgets_values: positional, a seed's control value right after the seed. */
function widgetValues(node) {
  if (node.missing) return node.rawWidgets;
  const values = [];
  for (const w of node.widgets) {
    values.push(w.value);
    if (w.control !== undefined) values.push(w.control);
  }
  return values;
}

/** The graph as a UI-format workflow object. */
export function toWorkflow(graph, view) {
  const slotIndex = new Map();
  const nodes = [...graph.nodes.values()].map((node, order) => {
    const inputs = savedInputs(node);
    slotIndex.set(node.id, new Map(inputs.map((i, k) => [i.name, k])));
    const saved = {
      id: node.id,
      type: node.type,
      pos: [...node.pos],
      size: [...node.size],
      flags: { ...node.flags },
      order,
      mode: node.mode,
      inputs,
      outputs: node.outputs.map((o, k) => ({ name: o.name, type: o.type, links: graph.linksFrom(node.id, k), slot_index: k })),
      properties: { ...node.properties },
      widgets_values: widgetValues(node),
    };
    if (node.title && node.title !== node.specTitle) saved.title = node.title;
    for (const key of ['color', 'bgcolor']) if (node[key]) saved[key] = node[key];
    return saved;
  });
  const links = [...graph.links.values()].map((l) => [l.id, l.from, l.fromSlot, l.to, slotIndex.get(l.to).get(l.toName), l.type]);
  const extra = { ...graph.extra };
  if (view) extra.ds = dsFromView(view);
  return {
    last_node_id: graph.lastNodeId,
    last_link_id: graph.lastLinkId,
    nodes,
    links,
    groups: graph.groups,
    config: {},
    extra,
    version: 0.4,
  };
}

/** litegraph sometimes saved arrays as {"0": x, "1": y}. */
function pair(value, fallback) {
  if (!value) return [...fallback];
  return [Number(value[0] ?? value['0'] ?? fallback[0]), Number(value[1] ?? value['1'] ?? fallback[1])];
}

/** A node whose class the server does not know: kept as saved so nothing is lost. */
function rawNode(saved) {
  const editorOnly = saved.type === 'Reroute' || saved.type === 'PrimitiveNode';
  return {
    id: saved.id,
    type: saved.type,
    title: saved.title || saved.type,
    pos: [0, 0],
    size: [220, 0],
    mode: 0,
    flags: {},
    properties: saved.properties || {},
    missing: true,
    editorOnly,
    inputs: (saved.inputs || []).map((i) => ({ name: i.name, type: i.type, link: null, saved: i.widget ? { widget: i.widget } : {} })),
    outputs: (saved.outputs || []).map((o) => ({ name: o.name, type: o.type })),
    widgets: [],
    rawWidgets: saved.widgets_values ?? [],
  };
}

function fillWidgets(node, values) {
  if (values && !Array.isArray(values) && typeof values === 'object') {
    for (let index = 0; index < node.widgets.length; index++) {
      const w = node.widgets[index];
      if (w.name in values) w.value = values[w.name];
      if (w.dynamic) applyOptions(node);
    }
    return;
  }
  const list = values || [];
  let k = 0;
  // by index: a dynamic combo's value brings its option's widgets in right after it, whose values come next
  for (let index = 0; index < node.widgets.length && k < list.length; index++) {
    const w = node.widgets[index];
    w.value = list[k++];
    if (w.control !== undefined && SEED_CONTROLS.includes(list[k])) w.control = list[k++];
    // A combo keeps a value the server no longer lists, so the user sees what was saved.
    if (w.kind === 'COMBO' && !w.choices.includes(String(w.value))) w.choices.push(String(w.value));
    if (w.dynamic) applyOptions(node);
  }
}

function linkTuple(l) {
  if (Array.isArray(l)) return l;
  return [l.id, l.origin_id, l.origin_slot, l.target_id, l.target_slot, l.type];
}

/**
 * Adds saved nodes and the links among them. With fresh ids (paste) every node gets a new id
 * and moves by offset; otherwise ids are kept (loading a file).
 */
export function addSavedNodes(graph, savedNodes, savedLinks, specs, { freshIds = false, offset = [0, 0] } = {}) {
  const warnings = [];
  const savedById = new Map();
  const idMap = new Map();
  for (const saved of savedNodes) {
    savedById.set(saved.id, saved);
    const spec = specs.get(saved.type);
    const node = spec ? nodeFromSpec(spec, saved.id, [0, 0]) : rawNode(saved);
    if (!spec && !node.editorOnly) warnings.push(`Unknown node type "${saved.type}" (node ${saved.id}).`);
    node.specTitle = spec ? spec.title : node.title;
    node.title = saved.title || node.specTitle;
    const pos = pair(saved.pos, [0, 0]);
    node.pos = [pos[0] + offset[0], pos[1] + offset[1]];
    node.size = pair(saved.size, node.size);
    node.mode = saved.mode ?? 0;
    node.flags = { ...(saved.flags || {}) };
    node.properties = { ...node.properties, ...(saved.properties || {}) };
    for (const key of ['color', 'bgcolor']) if (typeof saved[key] === 'string') node[key] = saved[key];
    if (spec) fillWidgets(node, saved.widgets_values);
    if (freshIds) node.id = null;
    graph.addNode(node);
    idMap.set(saved.id, node.id);
  }
  for (const raw of savedLinks || []) {
    if (!raw) continue;
    const [id, from, fromSlot, to, toSlot] = linkTuple(raw);
    if (!idMap.has(from) || !idMap.has(to)) continue;
    const savedInput = (savedById.get(to)?.inputs || [])[toSlot];
    const name = savedInput ? savedInput.name : null;
    const result = name == null
      ? { ok: false, reason: 'no such input' }
      : graph.connect(idMap.get(from), fromSlot, idMap.get(to), name, freshIds ? undefined : id);
    if (!result.ok) warnings.push(`Dropped link ${id} (node ${from} → node ${to}): ${result.reason}`);
  }
  return { warnings, ids: [...idMap.values()] };
}

/** The editor's own format lists nodes; the API format maps node ids to nodes. */
export function isUiFormat(data) {
  return !!data && typeof data === 'object' && Array.isArray(data.nodes);
}

/** Replaces the graph's content with a UI-format workflow; returns warnings for the user. */
export function loadWorkflow(graph, data, specs) {
  if (!isUiFormat(data)) throw new Error('This file is not a ComfyUI workflow (no "nodes" list).');
  graph.clear();
  const { warnings } = addSavedNodes(graph, data.nodes, data.links, specs);
  graph.lastNodeId = Math.max(graph.lastNodeId, data.last_node_id || 0);
  graph.lastLinkId = Math.max(graph.lastLinkId, data.last_link_id || 0);
  graph.groups = Array.isArray(data.groups) ? data.groups : [];
  graph.extra = data.extra && typeof data.extra === 'object' ? { ...data.extra } : {};
  return warnings;
}

/** The selected nodes and the links between them, in saved form, for copy/paste. */
export function copyNodes(graph, ids) {
  const wanted = new Set(ids);
  const full = toWorkflow(graph);
  return {
    nodes: full.nodes.filter((n) => wanted.has(n.id)),
    links: full.links.filter((l) => wanted.has(l[1]) && wanted.has(l[3])),
  };
}
