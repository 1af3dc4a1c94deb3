// Turns /api/object_info entries into node specs the editor works with.

const WIDGET_KINDS = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO']);
export const SEED_CONTROLS = ['fixed', 'increment', 'decrement', 'randomize'];

function orderedInputs(info, group) {
  const entries = (info.input && info.input[group]) || {};
  const order = (info.input_order && info.input_order[group]) || Object.keys(entries);
  return order.filter((name) => name in entries).map((name) => [name, entries[name]]);
}

const AUTOGROW = 'COMFY_AUTOGROW_V3';
const DYNAMIC_COMBO = 'COMFY_DYNAMICCOMBO_V3';
const MATCH_TYPE = 'COMFY_MATCHTYPE_V3';

/** The first input of a V3 template or option, as [section, name, declaration] pairs of its sections. */
function sectionEntries(sections) {
  const out = [];
  for (const section of ['required', 'optional']) {
    for (const [name, decl] of Object.entries((sections && sections[section]) || {})) out.push([section, name, decl]);
  }
  return out;
}

/** An autogrow input: sockets named from a list (`values.a` ...) or a prefix (`images.image0` ...), the first `min`
 * required; the canvas shows those linked plus one free (dynamic.js). */
function describeAutogrow(name, options, optional) {
  const template = options.template || {};
  const [, , decl] = sectionEntries(template.input)[0] || [null, null, ['*', {}]];
  const [type] = Array.isArray(decl) ? decl : [decl];
  const names = Array.isArray(template.names)
    ? template.names.map(String)
    : Array.from({ length: Number(template.max ?? 10) }, (_, k) => `${template.prefix || ''}${k}`);
  return { name, widget: false, autogrow: true, type: String(type), options, optional,
           slots: names.map((short) => `${name}.${short}`), min: Number(template.min ?? 1) };
}

/** A dynamic combo: a combo whose chosen option brings its own widgets and sockets (`resize_type.width` ...). */
function describeDynamicCombo(name, options, optional) {
  const byKey = {};
  for (const option of options.options || []) {
    byKey[String(option.key)] = sectionEntries(option.inputs)
      .map(([section, sub, decl]) => describeInput(`${name}.${sub}`, decl, optional || section === 'optional'));
  }
  return { name, widget: true, kind: 'COMBO', type: 'COMBO', choices: Object.keys(byKey), options, optional,
           dynamic: byKey };
}

/** One input declaration → a socket or a widget description. */
export function describeInput(name, decl, optional) {
  const [type, options = {}] = Array.isArray(decl) ? decl : [decl, {}];
  if (type === AUTOGROW) return describeAutogrow(name, options, optional);
  if (type === DYNAMIC_COMBO) return describeDynamicCombo(name, options, optional);
  if (type === MATCH_TYPE) {  // any of the template's allowed types; the server checks that the group agrees
    return { name, widget: false, kind: null, type: String((options.template || {}).allowed_types || '*'), options, optional };
  }
  if (Array.isArray(type)) {
    return { name, widget: true, kind: 'COMBO', type: 'COMBO', choices: type.map(String), options, optional };
  }
  if (type === 'COMBO') {
    return { name, widget: true, kind: 'COMBO', type, choices: (options.options || []).map(String), options, optional };
  }
  // forceInput turns a widget type into a plain socket.
  const widget = WIDGET_KINDS.has(type) && !options.forceInput;
  return { name, widget, kind: widget ? type : null, type, options, optional };
}

/** Builds the spec of one node class. */
export function nodeSpec(info) {
  const fields = [
    ...orderedInputs(info, 'required').map(([n, d]) => describeInput(n, d, false)),
    ...orderedInputs(info, 'optional').map(([n, d]) => describeInput(n, d, true)),
  ];
  const outputs = (info.output || []).map((type, i) => ({
    type: Array.isArray(type) ? 'COMBO' : type === MATCH_TYPE ? '*' : type,
    name: (info.output_name && info.output_name[i]) || String(type),
    isList: !!(info.output_is_list && info.output_is_list[i]),
  }));
  return {
    type: info.name,
    title: info.display_name || info.name,
    category: info.category || '',
    description: info.description || '',
    outputNode: !!info.output_node,
    inputs: fields.filter((f) => !f.widget),
    widgets: fields.filter((f) => f.widget),
    outputs,
  };
}

/** All specs by class name. */
export function buildSpecs(objectInfo) {
  const specs = new Map();
  for (const [name, info] of Object.entries(objectInfo)) {
    if (!info || typeof info !== 'object' || !info.input) continue;
    specs.set(name, nodeSpec({ name, ...info }));
  }
  return specs;
}

/** The value a fresh widget starts with. */
export function defaultWidgetValue(w) {
  const o = w.options || {};
  if (o.default !== undefined) return o.default;
  switch (w.kind) {
    case 'INT':
    case 'FLOAT': return Math.max(o.min ?? 0, Math.min(o.max ?? 0, 0));
    case 'STRING': return '';
    case 'BOOLEAN': return false;
    case 'COMBO': return w.choices.length ? w.choices[0] : '';
    default: return null;
  }
}
