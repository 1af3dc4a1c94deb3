// Images into LoadImage-like nodes (ComfyUI marks their image combo `image_upload`): a button opening a file picker,
// an image file dropped on the node, an image pasted while the node is selected. Each goes to /upload/image and the
// combo takes the stored name; a plain photo dropped on the canvas becomes a new LoadImage node.
import { api } from './api.js';
import { el } from './dom.js';

/** The widget a node takes uploaded images in, or null. */
export function uploadWidget(node) {
  return node.widgets.find((w) => w.options && w.options.image_upload) || null;
}

export function isImageFile(file) {
  return /^image\//.test(file.type) || /\.(png|jpe?g|webp|gif|bmp)$/i.test(file.name);
}

/** The folder the widget's files live in (LoadImageOutput reads the output folder). */
function folderOf(widget) { return widget.options.image_folder || 'input'; }

/** The row under an image widget: the upload button and a small view of the chosen image, following `select`. */
export function uploadRow(widget, select) {
  const row = el('div', { class: 'upload-row', 'data-upload-for': widget.name });
  const input = el('input', { type: 'file', accept: 'image/*', hidden: '', 'data-upload-input': '' });
  const button = el('button', { type: 'button', 'data-upload-button': '', title: 'Upload an image (or drop one on this node, or paste one while it is selected)' }, 'choose file to upload');
  const preview = el('img', { class: 'upload-preview', 'data-upload-preview': '', alt: '' });
  const show = () => {
    const name = String(widget.value || '');
    preview.hidden = !name;
    if (name) preview.src = api.viewUrl({ filename: name, type: folderOf(widget) });
  };
  preview.addEventListener('error', () => { preview.hidden = true; });
  show();
  if (select) select.addEventListener('change', show);
  row.append(button, input, preview);
  return row;
}

export class ImageUploads {
  /** app: {graph, canvas, specs, refreshNodeInfo(), addNode(type, pos), changed(), paste(), message(text, kind)} */
  constructor(root, app) {
    this.app = app;
    root.addEventListener('click', (e) => {
      const button = e.target.closest('[data-upload-button]');
      if (button) button.parentElement.querySelector('[data-upload-input]').click();
    });
    root.addEventListener('change', (e) => {
      const input = e.target.closest('[data-upload-input]');
      if (!input || !input.files[0]) return;
      const node = this.nodeOf(input);
      if (node) this.uploadTo(node, input.files[0]);
      input.value = '';
    });
    // Before the window's drop handler, which opens dropped files as workflows.
    root.addEventListener('drop', (e) => {
      const file = e.dataTransfer && e.dataTransfer.files[0];
      const node = this.nodeOf(e.target);
      if (!file || !isImageFile(file) || !node || !uploadWidget(node)) return;
      e.preventDefault();
      e.stopPropagation();
      this.uploadTo(node, file);
    });
    document.addEventListener('paste', (e) => this.pasted(e));
  }

  nodeOf(element) {
    const nodeEl = element && element.closest && element.closest('.node');
    return nodeEl ? this.app.graph.nodes.get(Number(nodeEl.dataset.nodeId)) : null;
  }

  /** The selected node that takes images, if any: Ctrl+V then pastes an image into it rather than nodes. */
  selectedUploadNode() {
    for (const id of this.app.canvas.selected) {
      const node = this.app.graph.nodes.get(id);
      if (node && uploadWidget(node)) return node;
    }
    return null;
  }

  pasted(e) {
    if (e.target.closest && e.target.closest('input, textarea, select, [contenteditable]')) return;
    const node = this.selectedUploadNode();
    if (!node) return; // main.js pastes nodes on Ctrl+V
    const file = [...((e.clipboardData && e.clipboardData.files) || [])].find(isImageFile);
    e.preventDefault();
    if (file) this.uploadTo(node, file);
    else this.app.paste();
  }

  /** Stores the file on the server; returns the name the widget takes ("subfolder/name" in a subfolder). */
  async store(file, folder) {
    const stored = await api.uploadImage(file, { type: folder });
    return stored.subfolder ? `${stored.subfolder}/${stored.name}` : stored.name;
  }

  /** Uploads into a node's image widget; every image combo then lists the new file. */
  async uploadTo(node, file) {
    const widget = uploadWidget(node);
    try {
      const name = await this.store(file, folderOf(widget));
      await this.app.refreshNodeInfo().catch(() => {});
      if (!widget.choices.includes(name)) widget.choices.push(name);
      widget.value = name;
      this.app.changed();
      this.app.message(`Uploaded ${name}.`);
    } catch (e) {
      this.app.message(`Could not upload ${file.name}: ${e.message}`, 'error');
    }
  }

  /** A photo with no workflow in it, dropped or opened: a LoadImage node showing it, at `pos` when given. */
  async placeImage(file, pos) {
    if (!this.app.specs.has('LoadImage')) throw new Error('it holds no workflow, and this server has no LoadImage node to show it');
    const name = await this.store(file, 'input');
    await this.app.refreshNodeInfo().catch(() => {});
    const node = this.app.addNode('LoadImage', pos);
    const widget = uploadWidget(node);
    if (!widget.choices.includes(name)) widget.choices.push(name);
    widget.value = name;
    this.app.changed();
  }
}
