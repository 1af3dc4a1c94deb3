"""ComfyUI's comfy.samplers.calc_cond_batch over our guidance: the x0 prediction of any number of conditionings at
one (x, sigma), for cfg functions and guiders that need more than the positive and negative (Perp-Neg)."""
from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..models.diffusion_model import DiffusionModel
from ..models.model_sampling import ModelView
from .cfg import GuidedDenoiser
from .conditioning import CondEntry, read_conditioning


class GroupPredictor(GuidedDenoiser):
    """Each group's own x0 prediction, no guidance: a GuidedDenoiser over any number of conditioning groups."""

    def __init__(self, model: DiffusionModel, groups: list[list[CondEntry]], **image: Any) -> None:
        super().__init__(model, [], [], 1.0, **image)
        self.groups = tuple(groups)


def read_group(conditioning: Any, name: str) -> list[CondEntry]:
    """A CONDITIONING, entries already read (a cfg function's "input_cond"), or None (nothing: zeros)."""
    if conditioning is None:
        return []
    if all(isinstance(entry, CondEntry) for entry in conditioning):  # the same list: callers may key caches on it
        return conditioning if isinstance(conditioning, list) else list(conditioning)
    return read_conditioning(conditioning, name)


def calc_cond_batch(model: Any, conds: list[Any], x: torch.Tensor, sigma: torch.Tensor,
                    model_options: dict[str, Any] | None = None) -> list[torch.Tensor]:
    """One x0 prediction per entry of `conds` at (x, sigma), batched as shapes allow; a None entry gives zeros, as in
    ComfyUI. `model` is the MODEL being sampled (or its `model` view); `model_options`, when given, are the ones the
    UNet runs with."""
    if isinstance(model, ModelView):
        model = model.owner
    if model_options is not None and model_options is not model.model_options:
        model = dataclasses.replace(model, model_options=model_options)
    groups = [read_group(conditioning, f"conds[{index}]") for index, conditioning in enumerate(conds)]
    sigma = sigma.reshape(-1).expand(x.shape[0]) if sigma.numel() == 1 else sigma.reshape(-1)
    return GroupPredictor(model, groups).predict_groups(x, sigma, len(groups))
