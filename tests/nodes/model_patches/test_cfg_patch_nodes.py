"""RescaleCFG, CFGZeroStar and CFGNorm on the tiny SD1 UNet: CFGGuider's x0 on the patched MODEL against each
method's maths applied here, in float64 numpy, to the positive's and negative's own predictions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nodes.model_patches.cfg_variants import CFGNorm, CFGZeroStar
from nodes.model_patches.model_advanced import RescaleCFG
from tests.nodes.model_patches.predictions import cond, guided, own_prediction, sample_point

CFG = 6.0
CLOSE = {"rtol": 1e-4, "atol": 3e-4}


@pytest.fixture
def point(model):
    """x (a batch of 2, so per-sample statistics are per sample), sigma, and the two predictions, in float64."""
    x, sigma = sample_point(5, 3.0, batch=2)
    pos, neg = own_prediction(model, cond(1), x, sigma), own_prediction(model, cond(2), x, sigma)
    return x, sigma, *(t.double().numpy() for t in (x, pos, neg))


def check(out: torch.Tensor, expected: np.ndarray) -> None:
    torch.testing.assert_close(out, torch.from_numpy(expected).float(), **CLOSE)


def rescale_cfg(x, pos, neg, sigma, multiplier):
    """Rescaled CFG on v = a (x - (1 + sigma^2) x0) / sigma, a = 1 / sqrt(1 + sigma^2); x0 = a^2 x - a sigma v."""
    a = 1 / np.sqrt(1 + sigma ** 2)
    v_pos, v_neg = (a * (x - (1 + sigma ** 2) * p) / sigma for p in (pos, neg))
    v_cfg = v_neg + CFG * (v_pos - v_neg)
    std = lambda v: v.reshape(len(v), -1).std(axis=1, ddof=1).reshape(-1, 1, 1, 1)  # noqa: E731
    v = multiplier * v_cfg * std(v_pos) / std(v_cfg) + (1 - multiplier) * v_cfg
    return a ** 2 * x - a * sigma * v


@pytest.mark.parametrize("multiplier", [0.0, 0.7, 1.0])
def test_rescale_cfg(model, point, multiplier):
    x, sigma, xs, pos, neg = point
    patched, = RescaleCFG().patch(model, multiplier)
    assert patched is not model and "sampler_cfg_function" not in model.model_options
    check(guided(patched, CFG, x, sigma), rescale_cfg(xs, pos, neg, 3.0, multiplier))
    if multiplier == 0.0:  # plain CFG
        check(guided(patched, CFG, x, sigma), neg + CFG * (pos - neg))


def test_cfg_zero_star(model, point):
    """The negative scaled by alpha = <e_pos, e_neg> / |e_neg|^2 per sample, e = x - x0."""
    x, sigma, xs, pos, neg = point
    e_pos, e_neg = ((xs - p).reshape(2, -1) for p in (pos, neg))
    alpha = ((e_pos * e_neg).sum(1) / (e_neg ** 2).sum(1)).reshape(-1, 1, 1, 1)
    assert abs(alpha.ravel()[0] - alpha.ravel()[1]) > 1e-4 and not np.allclose(alpha, 1.0, atol=1e-3)
    patched, = CFGZeroStar().patch(model)
    check(guided(patched, CFG, x, sigma), alpha * neg + CFG * (pos - alpha * neg))


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_cfg_norm_after_cfg_caps_the_channel_norm_at_the_positives(model, point, strength):
    x, sigma, xs, pos, neg = point
    combined = neg + CFG * (pos - neg)
    ratio = np.linalg.norm(pos, axis=1, keepdims=True) / np.linalg.norm(combined, axis=1, keepdims=True)
    assert (ratio < 1).any() and (ratio > 1).any()  # both sides of the cap are exercised
    patched, = CFGNorm().patch(model, strength)
    check(guided(patched, CFG, x, sigma), combined * np.minimum(ratio, 1.0) * strength)


@pytest.mark.parametrize("strength", [1.0, 0.25])
def test_cfg_norm_before_cfg_matches_the_noise_norm_unclamped(model, point, strength):
    x, sigma, xs, pos, neg = point
    e_pos, e_neg = xs - pos, xs - neg
    e_cfg = e_neg + CFG * (e_pos - e_neg)
    rescaled = e_cfg * np.linalg.norm(e_pos, axis=1, keepdims=True) / np.linalg.norm(e_cfg, axis=1, keepdims=True)
    noise = strength * rescaled + (1 - strength) * e_cfg
    patched, = CFGNorm().patch(model, strength, pre_cfg=True)
    check(guided(patched, CFG, x, sigma), xs - noise)
