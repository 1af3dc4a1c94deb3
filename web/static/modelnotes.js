// What the server knows about each LoRA file (GET /api/models/loras?details=1), shown under a node's
// lora_name: the base it was trained for and the words to prompt it with, the usual reason a LoRA "does nothing".

const notes = new Map();

/** What to type for a LoRA, as its file tells: the trigger words it states, then the tags most frequent in its
 * training captions (often the undeclared trigger words, but not stated as such). */
export function trainingHints(entry) {
  const training = entry.training || {};
  const hints = [];
  if (training.trigger_words && training.trigger_words.length) hints.push(`trigger words: ${training.trigger_words.join(', ')}`);
  if (training.top_tags && training.top_tags.length) hints.push(`most frequent training tags: ${training.top_tags.slice(0, 5).join(', ')}`);
  return hints;
}

/** The model's family where the server names one apart from a base Latentloom runs (e.g. a family it cannot run). */
export function familyOf(entry) {
  return entry.family || entry.architecture || '';
}

/** The sentence shown for one entry of the details listing. */
function noteFor(entry) {
  if (entry.problem) return `Unusable: ${entry.problem}`;
  const base = familyOf(entry) ? `for ${familyOf(entry)}` : 'base not stated';
  return [base, entry.note, ...trainingHints(entry)].filter(Boolean).join(' · ');
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
