"""Epsilon Scaling, TemporalScoreRescaling, APG and LatentApplyOperationCFG on the tiny SD1 UNet: CFGGuider's x0 on
the patched MODEL against each method's maths applied here, in float64 numpy, to the positive's and negative's own
predictions (a batch of two at different sigmas, so per-sample handling is exercised)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nodes.model_patches.apg import APG, ProjectedGuidance
from nodes.model_patches.eps import EpsilonScaling, TemporalScoreRescaling
from nodes.model_patches.latent_operation_cfg import LatentApplyOperationCFG
from tests.nodes.model_patches.predictions import cond, guided, own_prediction

CFG = 5.0
CLOSE = {"rtol": 1e-4, "atol": 3e-4}
SIGMAS = np.array([3.0, 0.5])


@pytest.fixture
def point(model):
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(8))
    sigma = torch.tensor(SIGMAS, dtype=torch.float32)
    pos, neg = own_prediction(model, cond(1), x, sigma), own_prediction(model, cond(2), x, sigma)
    return x, sigma, *(t.double().numpy() for t in (x, pos, neg))


def check(out: torch.Tensor, expected: np.ndarray) -> None:
    torch.testing.assert_close(out, torch.from_numpy(expected).float(), **CLOSE)


def test_epsilon_scaling_divides_the_guided_noise(model, point):
    x, sigma, xs, pos, neg = point
    patched, = EpsilonScaling().patch(model, 1.25)
    check(guided(patched, CFG, x, sigma), xs - (xs - (neg + CFG * (pos - neg))) / 1.25)


@pytest.mark.parametrize("k, tsr_sigma", [(0.5, 2.0), (3.0, 0.7)])
def test_temporal_score_rescaling(model, point, k, tsr_sigma):
    """r = (snr v + 1) / (snr v / k + 1) with snr = 1 / sigma^2 and v = tsr_sigma^2; x0 = x + r (x0_cfg - x)."""
    x, sigma, xs, pos, neg = point
    snr = 1 / SIGMAS ** 2
    r = ((snr * tsr_sigma ** 2 + 1) / (snr * tsr_sigma ** 2 / k + 1)).reshape(-1, 1, 1, 1)
    patched, = TemporalScoreRescaling().patch(model, k, tsr_sigma)
    check(guided(patched, CFG, x, sigma), xs + r * (neg + CFG * (pos - neg) - xs))
    unchanged, = TemporalScoreRescaling().patch(model, 1.0, tsr_sigma)
    check(guided(unchanged, CFG, x, sigma), neg + CFG * (pos - neg))


def apg_numpy(pos, neg, eta, threshold, guidance=None):
    """APG's guided x0: the guidance capped at `threshold` per sample, its part along pos weighted by eta."""
    guidance = pos - neg if guidance is None else guidance
    norm = np.sqrt((guidance ** 2).sum(axis=(1, 2, 3), keepdims=True))
    if threshold > 0:
        guidance = guidance * np.minimum(1.0, threshold / norm)
    unit = pos / np.sqrt((pos ** 2).sum(axis=(1, 2, 3), keepdims=True))
    parallel = (guidance * unit).sum(axis=(1, 2, 3), keepdims=True) * unit
    modified = guidance - parallel + eta * parallel
    return neg + CFG * (modified + (pos - neg) / CFG)


def test_apg_projects_and_caps_the_guidance(model, point):
    x, sigma, xs, pos, neg = point
    norms = np.sqrt(((pos - neg) ** 2).sum(axis=(1, 2, 3)))
    threshold = float(norms.mean())  # one sample capped, one not
    assert norms.min() < threshold < norms.max()
    patched, = APG().patch(model, 0.3, threshold, 0.0)
    check(guided(patched, CFG, x, sigma), apg_numpy(pos, neg, 0.3, threshold))
    plain, = APG().patch(model, 1.0, 0.0, 0.0)  # eta 1, no cap: pos + cfg (pos - neg), CFG at cfg + 1 as in ComfyUI
    check(guided(plain, CFG, x, sigma), pos + CFG * (pos - neg))


def test_apg_momentum_averages_over_steps_and_restarts_when_sigma_rises():
    g = torch.Generator().manual_seed(2)
    pos, neg = torch.randn(3, 2, 1, 4, 4, generator=g).double(), torch.randn(3, 2, 1, 4, 4, generator=g).double()
    guidance = ProjectedGuidance(eta=0.5, norm_threshold=0.0, momentum=0.6)

    def step(i, sigma):
        args = {"conds_out": [pos[i], neg[i]], "cond_scale": CFG, "sigma": torch.tensor([sigma, sigma])}
        cond, uncond = guidance(args)
        return (uncond + CFG * (cond - uncond)).numpy()

    p, n = pos.numpy(), neg.numpy()
    d0, d1, d2 = (p[i] - n[i] for i in range(3))
    np.testing.assert_allclose(step(0, 5.0), apg_numpy(p[0], n[0], 0.5, 0.0, d0), rtol=1e-10)
    np.testing.assert_allclose(step(1, 2.0), apg_numpy(p[1], n[1], 0.5, 0.0, 0.6 * d0 + d1), rtol=1e-10)
    np.testing.assert_allclose(step(2, 9.0), apg_numpy(p[2], n[2], 0.5, 0.0, d2), rtol=1e-10)  # a new run


def test_latent_apply_operation_cfg_acts_on_the_guidance(model, point):
    x, sigma, xs, pos, neg = point
    patched, = LatentApplyOperationCFG().patch(model, lambda latent: latent * 2.0)
    check(guided(patched, CFG, x, sigma), neg + CFG * 2.0 * (pos - neg))
    check(guided(patched, 1.0, x, sigma), 2.0 * pos)  # no negative computed: on the positive alone
