// The socket and widget objects a node holds, made from schema.js descriptions.
import { defaultWidgetValue } from './schema.js';

/** ComfyUI's editor gives these INT widgets a control_after_generate value (and saves it after the seed). */
function hasSeedControl(w) {
  return w.kind === 'INT' && (w.name === 'seed' || w.name === 'noise_seed' || !!(w.options && w.options.control_after_generate));
}

/** A socket: it holds the id of the link that feeds it. */
export function newSocket(i) {
  return { name: i.name, type: i.type, link: null, optional: i.optional };
}

/** A widget: it holds its value (and a link id when a link drives it). */
export function newWidget(w) {
  return {
    name: w.name, kind: w.kind, type: w.type, options: w.options, choices: w.choices ? [...w.choices] : undefined,
    dynamic: w.dynamic, value: defaultWidgetValue(w), link: null,
    // ComfyUI's default for seeds is to randomize after every queue.
    control: hasSeedControl(w) ? 'randomize' : undefined,
  };
}
