// What the server knows about each LoRA file (GET /api/models/loras?details=1), shown under a node's
// lora_name: the base it was trained for and its trigger words, the usual reason a LoRA "does nothing".

const notes = new Map();

/** What to type for a LoRA: its stated trigger words, else its most frequent training tags, else ''. */
export function trainingHint(entry) {
  const training = entry.training || {};
  if (training.trigger_words && training.trigger_words.length) return `trigger words: ${training.trigger_words.join(', ')}`;
  if (training.top_tags && training.top_tags.length) return `frequent training tags: ${training.top_tags.slice(0, 5).join(', ')}`;
  return '';
}

/** The sentence shown for one entry of the details listing. */
function noteFor(entry) {
  if (entry.problem) return `Unusable: ${entry.problem}`;
  return [entry.architecture ? `for ${entry.architecture}` : 'base not stated', trainingHint(entry)].filter(Boolean).join(' · ');
}

export const modelNotes = {
  /** Replaces the notes with a fresh details listing of the loras folder. */
  update(entries) {
    notes.clear();
    for (const entry of entries || []) notes.set(entry.name, noteFor(entry));
  },
  /** The note for a widget's current value, or '' (only lora_name widgets have notes). */
  forWidget(widget) {
    return widget.name === 'lora_name' ? notes.get(String(widget.value)) || '' : '';
  },
};
