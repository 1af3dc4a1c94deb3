// Form controls for node widgets. They write straight into the widget object.
import { SEED_CONTROLS } from './schema.js';
import { el } from './dom.js';

/** Clamps and rounds a number the way the widget's options ask. */
export function normaliseNumber(widget, raw) {
  const o = widget.options || {};
  let v = Number(raw);
  if (!Number.isFinite(v)) v = Number(widget.value) || 0;
  if (o.min !== undefined) v = Math.max(o.min, v);
  if (o.max !== undefined) v = Math.min(o.max, v);
  if (widget.kind === 'INT') return Math.round(v);
  const round = typeof o.round === 'number' && o.round > 0 ? o.round : null;
  return round ? Math.round(v / round) * round : v;
}

function control(widget, onInput, onCommit) {
  switch (widget.kind) {
    case 'INT':
    case 'FLOAT': {
      const o = widget.options || {};
      const step = o.step ?? (widget.kind === 'INT' ? 1 : 0.01);
      const input = el('input', { type: 'number', step: String(step), min: o.min, max: o.max });
      input.value = String(widget.value);
      input.addEventListener('input', () => { if (input.value !== '') { widget.value = normaliseNumber(widget, input.value); onInput(); } });
      input.addEventListener('change', () => { widget.value = normaliseNumber(widget, input.value); input.value = String(widget.value); onCommit(); });
      return input;
    }
    case 'STRING': {
      const multiline = widget.options && widget.options.multiline;
      const input = multiline ? el('textarea', { rows: '4' }) : el('input', { type: 'text' });
      input.value = widget.value ?? '';
      input.addEventListener('input', () => { widget.value = input.value; onInput(); });
      input.addEventListener('change', onCommit);
      return input;
    }
    case 'BOOLEAN': {
      const input = el('input', { type: 'checkbox' });
      input.checked = !!widget.value;
      input.addEventListener('change', () => { widget.value = input.checked; onCommit(); });
      return input;
    }
    case 'COMBO': {
      const select = el('select');
      for (const choice of widget.choices) select.append(el('option', { value: choice }, choice));
      select.value = String(widget.value);
      select.addEventListener('change', () => { widget.value = select.value; onCommit(); });
      return select;
    }
    default:
      return el('span', {}, String(widget.value));
  }
}

/** One labelled widget row; seeds get their control_after_generate select below. */
export function widgetRows(widget, onInput, onCommit) {
  const row = el('label', { class: 'widget', 'data-widget': widget.name, 'data-kind': widget.kind, title: widget.options?.tooltip });
  row.append(el('span', { class: 'socket widget-socket' }), el('span', { class: 'widget-name' }, widget.name));
  const input = control(widget, onInput, onCommit);
  if (widget.link != null) input.disabled = true; // a link drives this value
  row.append(input);
  const rows = [row];
  if (widget.control !== undefined) {
    const ctl = el('label', { class: 'widget', 'data-widget': 'control_after_generate', 'data-control-for': widget.name });
    const select = el('select');
    for (const c of SEED_CONTROLS) select.append(el('option', { value: c }, c));
    select.value = widget.control;
    select.addEventListener('change', () => { widget.control = select.value; onCommit(); });
    ctl.append(el('span', { class: 'widget-name' }, 'control after generate'), select);
    rows.push(ctl);
  }
  return rows;
}

/** Seed values change after each queue, as ComfyUI does. Returns true if any changed. */
export function applySeedControls(graph) {
  let changed = false;
  for (const node of graph.nodes.values()) {
    for (const w of node.widgets) {
      if (!w.control || w.control === 'fixed' || w.link != null) continue;
      const o = w.options || {};
      const min = o.min ?? 0;
      // Beyond 2^53 numbers lose precision in JS; ComfyUI caps random seeds the same way.
      const max = Math.min(o.max ?? Number.MAX_SAFE_INTEGER, 1125899906842624);
      const step = w.kind === 'INT' ? 1 : (o.step ?? 1);
      if (w.control === 'increment') w.value = Math.min(max, Number(w.value) + step);
      else if (w.control === 'decrement') w.value = Math.max(min, Number(w.value) - step);
      else if (w.control === 'randomize') w.value = min + Math.floor(Math.random() * (max - min));
      changed = true;
    }
  }
  return changed;
}
