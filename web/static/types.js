// Socket type rules, as ComfyUI users expect them.

/** Split "IMAGE,MASK" into ["IMAGE", "MASK"], case-insensitively. */
function typeNames(type) {
  return String(type).split(',').map((t) => t.trim().toUpperCase()).filter(Boolean);
}

/** True when an output of outType may feed an input of inType. */
export function typesMatch(outType, inType) {
  if (outType == null || inType == null) return false;
  if (outType === '*' || inType === '*' || outType === '' || inType === '') return true;
  const wanted = new Set(typeNames(inType));
  return typeNames(outType).some((t) => t === '*' || wanted.has(t) || wanted.has('*'));
}
