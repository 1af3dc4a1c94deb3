"""Conditionings, sample points and each conditioning's own x0 prediction (no guidance) on the tiny SD1 UNet, from
which the tests compute guided results independently."""
from __future__ import annotations

import torch

from nodes.runtime.guiders import CFGGuider
from nodes.runtime.models import DiffusionModel


def cond(seed: int) -> list:
    return [[torch.randn(1, 77, 64, generator=torch.Generator().manual_seed(seed)), {}]]


def sample_point(seed: int, sigma: float, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch, 4, 8, 8, generator=torch.Generator().manual_seed(seed)), torch.full((batch,), sigma)


def own_prediction(model: DiffusionModel, conditioning: list, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The conditioning's x0 prediction on the unpatched model, alone."""
    return CFGGuider(DiffusionModel(model.unet, "SD1.x", "epsilon", "plain"), conditioning).denoiser()(x, sigma)


def guided(model: DiffusionModel, cfg: float, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """CFGGuider's x0 for positive cond(1) and negative cond(2) on `model` (patches and all)."""
    return CFGGuider(model, cond(1), cond(2), cfg).denoiser()(x, sigma)
