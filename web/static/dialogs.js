// A small modal that asks for one line of text (the name to save under, a node's title).
import { el } from './dom.js';

/** Resolves to the text entered (trimmed), or null when the user cancels (Escape, Cancel, a click outside). */
export function askText(question, value = '') {
  return new Promise((resolve) => {
    const shade = el('div', { class: 'dialog-shade' });
    const form = el('form', { class: 'popup dialog', 'data-testid': 'dialog' });
    const input = el('input', { 'data-testid': 'dialog-input', autocomplete: 'off', spellcheck: 'false' });
    input.value = value;
    const ok = el('button', { type: 'submit', class: 'primary', 'data-testid': 'dialog-ok' }, 'OK');
    const cancel = el('button', { type: 'button', 'data-testid': 'dialog-cancel' }, 'Cancel');
    const buttons = el('div', { class: 'dialog-buttons' });
    buttons.append(cancel, ok);
    form.append(el('label', {}, question), input, buttons);
    shade.append(form);
    const done = (answer) => { shade.remove(); resolve(answer); };
    form.addEventListener('submit', (e) => { e.preventDefault(); done(input.value.trim()); });
    cancel.addEventListener('click', () => done(null));
    shade.addEventListener('pointerdown', (e) => { if (e.target === shade) done(null); });
    input.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.stopPropagation(); done(null); } });
    document.body.append(shade);
    input.focus();
    input.select();
  });
}
