"""Fitting one latent to another before they are combined: to a batch size, and to a shape (ComfyUI's rules)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from graph_engine import InvalidNodeInput

if TYPE_CHECKING:
    import torch


def repeat_to_batch_size(tensor: "torch.Tensor", batch_size: int, dim: int = 0) -> "torch.Tensor":
    """`tensor` cut or repeated along `dim` to `batch_size` items: [a, b] to 5 is [a, b, a, b, a]."""
    have = tensor.shape[dim]
    if have > batch_size:
        return tensor.narrow(dim, 0, batch_size)
    if have < batch_size:
        repeats = [1] * tensor.ndim
        repeats[dim] = math.ceil(batch_size / have)
        return tensor.repeat(repeats).narrow(dim, 0, batch_size)
    return tensor


def reshape_latent_to(target_shape: tuple[int, ...], latent: "torch.Tensor", input_name: str,
                      repeat_batch: bool = True) -> "torch.Tensor":
    """`latent` resized (bilinear, center crop) to the target's height and width when any non-batch size differs,
    then repeated or cut to the target's batch size unless `repeat_batch` is off."""
    from .resize import resize

    if tuple(latent.shape[1:]) != tuple(target_shape[1:]):
        if latent.ndim != 4 or len(target_shape) != 4 or latent.shape[1] != target_shape[1]:
            raise InvalidNodeInput(
                f"{input_name} is a latent of shape {tuple(latent.shape)}, which cannot be fitted to "
                f"{tuple(target_shape)}: both must be image latents [batch, channels, height, width] of the same kind of "
                f"model (the same number of channels)")
        latent = resize(latent, target_shape[-1], target_shape[-2], "bilinear", "center")
    return repeat_to_batch_size(latent, target_shape[0]) if repeat_batch else latent
