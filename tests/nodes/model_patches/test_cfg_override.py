"""CFGOverride: the cfg a guider uses at a step, inside and outside the override's sigma range (found here from SD's
sigma table), with overlapping overrides, against CFG computed from each prompt's own prediction."""
from __future__ import annotations

import math

import numpy as np
import torch

from nodes.model_patches.cfg_override import CFGOverride
from nodes.runtime.guiders import CFGGuider
from nodes.runtime.models.wrappers import with_predict_noise_wrappers
from tests.nodes.model_patches.predictions import cond, own_prediction
from tests.nodes.model_patches.test_model_sampling import sd_sigmas

CFG = 6.0
CLOSE = {"rtol": 1e-4, "atol": 3e-4}


def sigma_at(percent: float) -> float:
    """Sigma (1 - percent) of the way along the 999 steps, log-sigma interpolated."""
    t = (1 - percent) * 999
    low, w = int(math.floor(t)), t - math.floor(t)
    log = np.log(sd_sigmas().astype(np.float32).astype(np.float64))
    return float(np.exp((1 - w) * log[low] + w * log[min(low + 1, 999)]))


def step(model, sigma: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The wrapped guider's x0 at sigma, with the positive's and negative's own predictions."""
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(9))
    s = torch.tensor([sigma])
    guider = CFGGuider(model, cond(1), cond(2), CFG)
    out = with_predict_noise_wrappers(guider, guider.denoiser())(x, s)
    assert guider.cfg == CFG  # restored after the step
    return out, own_prediction(model, cond(1), x, s), own_prediction(model, cond(2), x, s)


def test_the_override_applies_within_its_range_only(model):
    patched, = CFGOverride().patch(model, 2.0, 0.25, 0.5)
    high, low = sigma_at(0.25), sigma_at(0.5)
    for sigma, cfg in [(high * 0.98, 2.0), (low * 1.02, 2.0), (high * 1.05, CFG), (low * 0.95, CFG)]:
        out, pos, neg = step(patched, sigma)
        torch.testing.assert_close(out, neg + cfg * (pos - neg), **CLOSE)


def test_the_override_nearest_the_sampler_wins_on_overlap(model):
    first, = CFGOverride().patch(model, 2.0, 0.0, 1.0)
    second, = CFGOverride().patch(first, 1.0, 0.0, 0.5)  # cfg 1: the negative is not even computed
    out, pos, neg = step(second, sigma_at(0.2))
    torch.testing.assert_close(out, pos, **CLOSE)
    out, pos, neg = step(second, sigma_at(0.8))
    torch.testing.assert_close(out, neg + 2.0 * (pos - neg), **CLOSE)
    assert len(first.model_options["transformer_options"]["wrappers"]["predict_noise"][None]) == 1
