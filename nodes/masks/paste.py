"""Pasting one tensor onto another at an offset: a source image or latent through a mask, or one mask combined
into another by an operation (the maths of ImageCompositeMasked, LatentCompositeMasked and MaskComposite)."""
from __future__ import annotations

from typing import Any, Callable

from graph_engine import InvalidNodeInput

from .batches import mask_batch, repeat_to_batch


def composite(destination: Any, source: Any, x: int, y: int, mask: Any = None, multiplier: int = 8,
              resize_source: bool = False) -> Any:
    """`source` pasted onto `destination` (both channel-first [batch, channels, ..., height, width]) with its
    top-left corner at pixel (x, y), one cell being `multiplier` pixels (8 for latents, 1 for images).

    A `mask` (resized to the source) blends source over destination: 1 takes the source, 0 keeps the destination.
    The source's batch is repeated or cut to the destination's; what falls outside the destination is dropped.
    `destination` itself is changed and returned, as by ComfyUI's function of this name, which plugins import.
    """
    import torch.nn.functional as F

    if x < 0 or y < 0:
        raise InvalidNodeInput(f"x, y ({x}, {y}): the source's position must not be negative")
    source = source.to(destination.device)
    if resize_source:
        source = F.interpolate(source, size=tuple(destination.shape[-2:]), mode="bilinear")
    source = repeat_to_batch(source, destination.shape[0])
    height, width = destination.shape[-2:]
    top, left = min(y, height * multiplier) // multiplier, min(x, width * multiplier) // multiplier
    rows, columns = min(source.shape[-2], height - top), min(source.shape[-1], width - left)
    region = (..., slice(top, top + rows), slice(left, left + columns))
    pasted = source[..., :rows, :columns]
    if mask is None:
        destination[region] = pasted
        return destination
    weight = mask_batch(mask).to(destination.device)[:, None]
    weight = F.interpolate(weight, size=tuple(source.shape[-2:]), mode="bilinear")
    weight = repeat_to_batch(weight, source.shape[0])
    weight = weight.reshape(weight.shape[0], 1, *([1] * (source.ndim - 4)), *weight.shape[-2:])  # video latents
    weight = weight[..., :rows, :columns]
    destination[region] = weight * pasted + (1.0 - weight) * destination[region]
    return destination


def _as_bools(mask: Any) -> Any:
    return mask.round().bool()


MASK_OPERATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "multiply": lambda below, above: below * above,
    "add": lambda below, above: below + above,
    "subtract": lambda below, above: below - above,
    "and": lambda below, above: (_as_bools(below) & _as_bools(above)).float(),
    "or": lambda below, above: (_as_bools(below) | _as_bools(above)).float(),
    "xor": lambda below, above: (_as_bools(below) ^ _as_bools(above)).float(),
}


def combine_masks(destination: Any, source: Any, x: int, y: int, operation: str) -> Any:
    """A copy of `destination` where `source`, placed at (x, y), is combined into it by `operation` ("and", "or"
    and "xor" on values rounded to 0 or 1); the whole result is clamped to 0..1."""
    if operation not in MASK_OPERATIONS:
        raise InvalidNodeInput(f"operation {operation!r}: use one of {', '.join(MASK_OPERATIONS)}")
    output = mask_batch(destination, "destination").clone()
    source = mask_batch(source, "source").to(output.device)
    if source.shape[0] not in (1, output.shape[0]):
        raise InvalidNodeInput(f"source has {source.shape[0]} masks and destination {output.shape[0]}: give one "
                               "source mask, or as many as the destination has")
    height, width = output.shape[-2:]
    rows, columns = max(0, min(source.shape[-2], height - y)), max(0, min(source.shape[-1], width - x))
    region = (slice(None), slice(y, y + rows), slice(x, x + columns))
    output[region] = MASK_OPERATIONS[operation](output[region], source[:, :rows, :columns])
    return output.clamp(0.0, 1.0)
