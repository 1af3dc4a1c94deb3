"""Shapes and batch sizes of MASK and IMAGE values, made to agree before masks and images are combined."""
from __future__ import annotations

from typing import Any

from graph_engine import InvalidNodeInput


def mask_batch(mask: Any, name: str = "mask") -> Any:
    """`mask` as [batch, height, width]: a single [height, width] mask, or one with extra leading axes, becomes a
    batch, as ComfyUI's mask nodes take them."""
    shape = tuple(getattr(mask, "shape", ()))
    if len(shape) < 2:
        raise InvalidNodeInput(f"{name} must be a MASK tensor [batch, height, width] (or [height, width]), got "
                               f"{type(mask).__name__} of shape {shape}")
    return mask.reshape((-1, shape[-2], shape[-1]))


def image_batch(image: Any, name: str = "image") -> Any:
    """`image` checked to be an IMAGE tensor [batch, height, width, channels]."""
    shape = tuple(getattr(image, "shape", ()))
    if len(shape) != 4:
        raise InvalidNodeInput(f"{name} must be an IMAGE tensor [batch, height, width, channels], got "
                               f"{type(image).__name__} of shape {shape}")
    return image


def repeat_to_batch(tensor: Any, size: int) -> Any:
    """The first `size` items of `tensor`, its items repeated in turn when it has fewer (ComfyUI's rule for
    pairing batches of different sizes)."""
    count = tensor.shape[0]
    if count == size:
        return tensor
    if count > size:
        return tensor[:size]
    repeats = -(-size // count)
    return tensor.repeat(repeats, *([1] * (tensor.ndim - 1)))[:size]
