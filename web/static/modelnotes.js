// What the server knows about each model file (GET /api/models/{folder}?details=1), shown under the combo that
// picks it: a LoRA's base and the words to prompt it with (the usual reason a LoRA "does nothing"), and that the
// demo checkpoint has random weights (the reason its images are noise).

// Short on the loader (the server's layout of opened files leaves room for two lines under a combo); what to do
// instead is said under the images, where the noise is seen, and in the Models panel.
const RANDOM_WEIGHTS_NOTE = 'Demo checkpoint with random weights: its images are noise.';
export const RANDOM_WEIGHTS_ADVICE = 'Random weights: put a real checkpoint in models/checkpoints, '
  + 'or run `latentloom models install <file or URL>`.';

// combo widget name -> the model folder its files come from
const WIDGET_FOLDERS = { lora_name: 'loras', ckpt_name: 'checkpoints' };

const notes = new Map(); // folder -> (file name -> note)
const randomWeights = new Set(); // checkpoint names with random weights

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
  return entry.architecture || '';
}

function loraNote(entry) {
  if (entry.problem) return `Unusable: ${entry.problem}`;
  const base = familyOf(entry) ? `for ${familyOf(entry)}` : 'base not stated';
  return [base, entry.unsupported, ...trainingHints(entry)].filter(Boolean).join(' · ');
}

/** Ordinary checkpoints need no words under the combo; only what the user must know before a run. */
function checkpointNote(entry) {
  if (entry.problem) return `Unusable: ${entry.problem}`;
  if (entry.random_weights) return RANDOM_WEIGHTS_NOTE;
  return entry.unsupported || '';
}

const NOTE_MAKERS = { loras: loraNote, checkpoints: checkpointNote };

export const modelNotes = {
  /** Replaces the notes of each folder with a fresh details listing: {loras: [...], checkpoints: [...]}. */
  update(listings) {
    notes.clear();
    randomWeights.clear();
    for (const [folder, entries] of Object.entries(listings)) {
      const byName = new Map();
      for (const entry of entries || []) {
        byName.set(entry.name, NOTE_MAKERS[folder](entry));
        if (folder === 'checkpoints' && entry.random_weights) randomWeights.add(entry.name);
      }
      notes.set(folder, byName);
    }
  },
  /** Whether a combo of this name gets a note. */
  covers(widgetName) {
    return widgetName in WIDGET_FOLDERS;
  },
  /** The note for a widget's current value, or ''. */
  forWidget(widget) {
    const folder = WIDGET_FOLDERS[widget.name];
    return (folder && notes.get(folder)?.get(String(widget.value))) || '';
  },
  /** The note for the images of an API-format prompt: said when one of its loaders reads a random-weights checkpoint. */
  imageNote(prompt) {
    const random = Object.values(prompt || {}).some((node) => randomWeights.has(String(node?.inputs?.ckpt_name)));
    return random ? RANDOM_WEIGHTS_ADVICE : '';
  },
};
