"""calc_cond_batch, PerpNeg and PerpNegGuider on the tiny SD1 UNet: predictions of extra conditionings inside a cfg
function, and Perp-Neg's guided x0 against its maths applied here in float64 numpy to each prompt's own prediction."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nodes.model_patches.eps import EpsilonScaling
from nodes.model_patches.perpneg import PerpNeg, PerpNegGuider
from nodes.runtime.guidance.cond_batch import calc_cond_batch
from tests.nodes.model_patches.predictions import cond, guided, own_prediction, sample_point

CFG = 4.0
CLOSE = {"rtol": 1e-4, "atol": 3e-4}


@pytest.fixture
def point(model):
    x, sigma = sample_point(6, 2.5, batch=2)
    pos, neg, empty = (own_prediction(model, cond(seed), x, sigma) for seed in (1, 2, 3))
    return x, sigma, pos, neg, empty


def perp_neg_numpy(pos, neg, empty, neg_scale, cfg):
    """empty + cfg (p - neg_scale * (n - <n, p> / |p|^2 p)), p = pos - empty, n = neg - empty, over the batch."""
    p, n = (t.double().numpy() - empty.double().numpy() for t in (pos, neg))
    perpendicular = n - (n * p).sum() / (p * p).sum() * p
    return torch.from_numpy(empty.double().numpy() + cfg * (p - neg_scale * perpendicular)).float()


def test_calc_cond_batch_predicts_each_conditioning_and_zeros_for_none(model, point):
    x, sigma, pos, neg, empty = point
    out = calc_cond_batch(model.model, [cond(1), None, cond(3), cond(2)], x, sigma, model.model_options)
    assert len(out) == 4 and torch.equal(out[1], torch.zeros_like(x))
    for got, expected in zip([out[0], out[2], out[3]], [pos, empty, neg]):
        torch.testing.assert_close(got, expected, **CLOSE)


@pytest.mark.parametrize("neg_scale", [1.0, 2.5])
def test_perp_neg_patch(model, point, neg_scale):
    x, sigma, pos, neg, empty = point
    patched, = PerpNeg().patch(model, cond(3), neg_scale)
    torch.testing.assert_close(guided(patched, CFG, x, sigma), perp_neg_numpy(pos, neg, empty, neg_scale, CFG),
                               **CLOSE)


def test_perp_neg_guider(model, point):
    x, sigma, pos, neg, empty = point
    guider, = PerpNegGuider().get_guider(model, cond(1), cond(2), cond(3), CFG, 1.5)
    torch.testing.assert_close(guider.denoiser()(x, sigma), perp_neg_numpy(pos, neg, empty, 1.5, CFG), **CLOSE)
    # neg_scale 0: CFG against the empty prompt; with cfg 1 as well, the positive alone
    guider, = PerpNegGuider().get_guider(model, cond(1), cond(2), cond(3), CFG, 0.0)
    torch.testing.assert_close(guider.denoiser()(x, sigma), empty + CFG * (pos - empty), **CLOSE)
    guider, = PerpNegGuider().get_guider(model, cond(1), cond(2), cond(3), 1.0, 0.0)
    torch.testing.assert_close(guider.denoiser()(x, sigma), pos, **CLOSE)


def test_perp_neg_guider_runs_the_models_post_cfg_patches(model, point):
    x, sigma, pos, neg, empty = point
    scaled, = EpsilonScaling().patch(model, 1.25)
    guider, = PerpNegGuider().get_guider(scaled, cond(1), cond(2), cond(3), CFG, 1.0)
    guided_x0 = perp_neg_numpy(pos, neg, empty, 1.0, CFG)
    torch.testing.assert_close(guider.denoiser()(x, sigma), x - (x - guided_x0) / 1.25, **CLOSE)
