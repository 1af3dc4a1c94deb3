// The view as ComfyUI files keep it: extra.ds = {scale, offset}, drawn by LiteGraph as screen = (pos + offset) · scale.
// The canvas keeps {x, y, scale} with screen = pos · scale + (x, y), so offset = (x, y) / scale.

/** extra.ds for a view of the canvas. */
export function dsFromView(view) {
  return { scale: view.scale, offset: [view.x / view.scale, view.y / view.scale] };
}

/** The canvas view for a file's extra.ds, or null when it has none (litegraph also wrote {"0": x, "1": y}). */
export function viewFromDs(ds) {
  if (!ds || !ds.offset || typeof ds.offset !== 'object') return null;
  const scale = Number(ds.scale) > 0 ? Number(ds.scale) : 1;
  return { scale, x: (Number(ds.offset[0]) || 0) * scale, y: (Number(ds.offset[1]) || 0) * scale };
}
