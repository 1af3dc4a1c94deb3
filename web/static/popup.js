// Small DOM helpers for the canvas's popups (menus, the node search, dialogs): place and dismiss.

/** Shows a popup at a client point, moved back inside the window when it would stick out. */
export function floatAt(box, x, y) {
  box.style.left = `${x}px`;
  box.style.top = `${y}px`;
  document.body.append(box);
  const r = box.getBoundingClientRect();
  if (r.right > window.innerWidth) box.style.left = `${Math.max(0, window.innerWidth - r.width - 4)}px`;
  if (r.bottom > window.innerHeight) box.style.top = `${Math.max(0, window.innerHeight - r.height - 4)}px`;
}

/** Calls close() on Escape or on a press outside box; returns the function that stops listening. */
export function onOutsideOrEscape(box, close) {
  const press = (e) => { if (!box.contains(e.target)) close(); };
  const key = (e) => { if (e.key === 'Escape') { e.stopPropagation(); close(); } };
  document.addEventListener('pointerdown', press, true);
  document.addEventListener('keydown', key, true);
  return () => {
    document.removeEventListener('pointerdown', press, true);
    document.removeEventListener('keydown', key, true);
  };
}
