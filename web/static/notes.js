// ComfyUI's frontend-only note nodes: text for whoever reads the workflow, kept in widgets_values and never part of
// a prompt (the server's UI-to-API conversion leaves them out, graph_engine/ui_format.py EDITOR_ONLY_TYPES).

const NOTE_TYPES = { Note: 'Note', MarkdownNote: 'Markdown Note' };

function noteSpec(type, title) {
  return {
    type, title, category: 'utils', outputNode: false, inputs: [], outputs: [], editorOnly: true,
    description: 'Text for the reader of this workflow; it does not run.',
    widgets: [{ name: 'text', widget: true, kind: 'STRING', type: 'STRING', optional: false, options: { multiline: true, default: '' } }],
  };
}

/** Adds the note nodes to the server's specs (unless a plugin defines them), so they load, edit and save. */
export function withNoteSpecs(specs) {
  for (const [type, title] of Object.entries(NOTE_TYPES)) if (!specs.has(type)) specs.set(type, noteSpec(type, title));
  return specs;
}
