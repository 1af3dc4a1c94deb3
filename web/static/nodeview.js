// Builds the DOM of one node and applies its run state (progress, errors, images).
import { widgetRows } from './widgets.js';
import { modelNotes } from './modelnotes.js';
import { el } from './dom.js';
import { uploadRow } from './imageupload.js';

const MODE_CLASS = { 2: 'muted', 4: 'bypassed' };

function slotRow(input, output, index) {
  const row = el('div', { class: 'slot-row' });
  if (input) {
    const slot = el('div', { class: 'slot in', 'data-input': input.name, 'data-type': input.type, title: input.type });
    slot.append(el('span', { class: 'socket' + (input.link != null ? ' linked' : '') }), el('span', { class: 'label' }, input.name));
    row.append(slot);
  } else row.append(el('div', { class: 'slot in empty' }));
  if (output) {
    const slot = el('div', { class: 'slot out', 'data-output': String(index), 'data-output-name': output.name, 'data-type': output.type, title: output.type });
    slot.append(el('span', { class: 'label' }, output.name), el('span', { class: 'socket' }));
    row.append(slot);
  }
  return row;
}

/** What the picked model file is (a LoRA's base and trigger words, the demo checkpoint's random weights) under
 * its combo (`select`); follows the combo as it changes. */
function modelNoteRow(widget, select) {
  const note = el('div', { class: 'model-note', 'data-model-note': widget.name });
  const show = () => { note.textContent = modelNotes.forWidget(widget); note.hidden = !note.textContent; };
  show();
  if (select) select.addEventListener('change', show);
  return note;
}

/** The element for a node. hooks: {widgetInput(node), widgetCommit(node)} */
export function buildNodeElement(node, hooks) {
  const root = el('div', { class: 'node', 'data-node-id': String(node.id), 'data-node-type': node.type });
  if (MODE_CLASS[node.mode]) root.classList.add(MODE_CLASS[node.mode]);
  if (node.missing && !node.editorOnly) root.classList.add('missing');
  root.style.left = `${node.pos[0]}px`;
  root.style.top = `${node.pos[1]}px`;
  root.style.width = `${node.size[0]}px`;
  // ComfyUI's colours: the title bar's and the body's (contextmenu.js sets them)
  if (node.color) root.style.setProperty('--title-color', node.color);
  if (node.bgcolor) root.style.setProperty('--body-color', node.bgcolor);
  // Title, sockets and widgets: the part the saved height covers (run output below it comes and goes).
  const main = el('div', { class: 'node-main' });
  if (node.size[1] > 0) main.style.minHeight = `${node.size[1]}px`;
  root.append(main);

  const title = el('div', { class: 'node-title', 'data-drag-handle': '' });
  title.append(el('span', { class: 'title-text' }, node.title));
  title.append(el('span', { class: 'node-id' }, `#${node.id}`));
  main.append(title);

  const slots = el('div', { class: 'node-slots' });
  const rows = Math.max(node.inputs.length, node.outputs.length);
  for (let k = 0; k < rows; k++) slots.append(slotRow(node.inputs[k], node.outputs[k], k));
  main.append(slots);

  const widgets = el('div', { class: 'node-widgets' });
  for (const w of node.widgets) {
    const rows = widgetRows(w, () => hooks.widgetInput(node), () => hooks.widgetCommit(node));
    for (const row of rows) {
      if (w.link != null && row.dataset.widget === w.name) row.classList.add('linked');
      widgets.append(row);
    }
    if (modelNotes.covers(w.name)) widgets.append(modelNoteRow(w, rows[0].querySelector('select')));
    if (w.options && w.options.image_upload) widgets.append(uploadRow(w, rows[0].querySelector('select')));
  }
  if (node.missing && node.rawWidgets && node.rawWidgets.length) {
    widgets.append(el('div', { class: 'raw-widgets' }, JSON.stringify(node.rawWidgets).slice(0, 200)));
  }
  main.append(widgets);

  const progress = el('div', { class: 'node-progress', 'data-progress': '' });
  progress.append(el('div', { class: 'bar' }));
  root.append(progress);
  root.append(el('div', { class: 'node-error', 'data-node-error': '' }));
  root.append(el('img', { class: 'node-preview', 'data-preview': '', alt: 'live preview' }));
  root.append(el('div', { class: 'node-images' }));
  root.append(el('div', { class: 'image-note', 'data-image-note': '' }));
  root.append(el('div', { class: 'node-resize', 'data-resize-handle': '', title: 'Drag to resize' }));
  return root;
}

/** The error's message as the user reads it; its type (an exception's class path) only behind a toggle. */
function fillError(box, error) {
  if (!error) { box.replaceChildren(); return; }
  const parts = [el('div', { class: 'node-error-message', 'data-node-error-message': '' }, error.message || 'Failed.')];
  if (error.type) {
    const details = el('details', { class: 'node-error-details', 'data-node-error-details': '' });
    details.append(el('summary', {}, 'details'), el('code', {}, error.type));
    parts.push(details);
  }
  box.replaceChildren(...parts);
}

/** Shows a node's run state: running, progress, errors on inputs, preview and output images. */
export function applyNodeState(root, state = {}) {
  root.classList.toggle('running', !!state.running);
  root.classList.toggle('has-error', !!state.error);
  root.classList.toggle('cached', !!state.cached);

  const bar = root.querySelector('.node-progress');
  const p = state.progress;
  bar.classList.toggle('active', !!(state.running && p && p.max));
  bar.firstChild.style.width = p && p.max ? `${Math.round((100 * p.value) / p.max)}%` : '0%';
  bar.dataset.value = p ? `${p.value}/${p.max}` : '';

  const inputErrors = (state.error && state.error.inputs) || {};
  for (const slot of root.querySelectorAll('[data-input], .widget[data-widget]')) {
    const name = slot.dataset.input ?? slot.dataset.widget;
    const message = inputErrors[name];
    slot.classList.toggle('input-error', !!message);
    if (message) slot.dataset.error = message; else delete slot.dataset.error;
  }
  const box = root.querySelector('.node-error');
  // Rebuilt only when the error changes, so an open details toggle stays open.
  const errorKey = state.error ? `${state.error.type}\n${state.error.message}` : '';
  if (box.dataset.key !== errorKey) {
    fillError(box, state.error);
    box.dataset.key = errorKey;
  }

  const preview = root.querySelector('.node-preview');
  if (state.running && state.preview) { preview.src = state.preview; preview.classList.add('active'); }
  else { preview.removeAttribute('src'); preview.classList.remove('active'); }

  const images = root.querySelector('.node-images');
  const urls = state.images || [];
  if (images.dataset.urls !== urls.join('|')) {
    images.replaceChildren(...urls.map((url) => el('img', { src: url, 'data-output-image': '', alt: 'output image' })));
    images.dataset.urls = urls.join('|');
  }
  root.querySelector('.image-note').textContent = urls.length ? state.imageNote || '' : '';
}
