"""DEIS (Zhang & Chen 2022, "Fast Sampling of Diffusion Models with Exponential Integrator", arXiv:2204.13902),
its time-polynomial "tAB" form, as ComfyUI's `deis` sampler runs it.

The step integrates the noise prediction eps = (x - D) / sigma over sigma, eps extrapolated by a polynomial
through the last few steps in the time t of a variance-preserving SDE: x_next = x + sum_j c_j eps_j with
c_j = integral of L_j(t) dsigma/dt dt over the step, L_j the Lagrange basis on the earlier times.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .noise import NoiseSampler
from .sampler_basics import Callback, Denoise, report, split_args, steps_to_zero, to_d

# The VP SDE DEIS maps sigma onto: the one whose sigma runs from 0.002 at t = 1e-3 to 80 at t = 1 (EDM's range).
VP_SIGMA_MIN, VP_SIGMA_MAX, VP_T_MIN = 0.002, 80.0, 1e-3
INTEGRATION_POINTS = 10_000  # points of the coefficient integrals, taken as ComfyUI takes them (see below)


def vp_betas() -> tuple[float, float]:
    """(beta_min, beta_d) of the VP SDE with log(1 + sigma(t)^2) = beta_min t + beta_d t^2 / 2 through the two ends."""
    low, high = math.log1p(VP_SIGMA_MIN ** 2), math.log1p(VP_SIGMA_MAX ** 2)
    beta_d = 2 * (low / VP_T_MIN - high) / (VP_T_MIN - 1)
    return high - beta_d / 2, beta_d


def vp_time(sigmas: np.ndarray) -> np.ndarray:
    """The VP time t at which that SDE has noise level sigma (0 for sigma 0)."""
    beta_min, beta_d = vp_betas()
    return (np.sqrt(beta_min ** 2 + 2 * beta_d * np.log1p(sigmas ** 2)) - beta_min) / beta_d


def dsigma_dt(t: np.ndarray) -> np.ndarray:
    """d sigma / dt of the VP SDE: with abar = exp(-(beta_min t + beta_d t^2 / 2)) and sigma^2 = 1 / abar - 1,
    (beta_min + beta_d t) / (2 sqrt(abar (1 - abar)))."""
    beta_min, beta_d = vp_betas()
    abar = np.exp(-(beta_min * t + beta_d * t ** 2 / 2))
    return (beta_min + beta_d * t) / (2 * np.sqrt(abar * (1 - abar)))


def deis_coefficients(times: np.ndarray, i: int, order: int) -> list[float]:
    """c_j for the step from times[i] to times[i + 1], for eps at times[i - j], j < order (newest first).

    The integral is a sum over INTEGRATION_POINTS evenly spaced points from start to end inclusive, each weighted
    (end - start) / INTEGRATION_POINTS: ComfyUI's rule, kept so that the numbers agree (it is within about
    1e-4 relative of the exact integral).
    """
    start, end = times[i], times[i + 1]
    taus = np.linspace(start, end, INTEGRATION_POINTS)
    weight = dsigma_dt(taus) * (end - start) / INTEGRATION_POINTS
    nodes = [times[i - k] for k in range(order)]
    coefficients = []
    for j in range(order):
        basis = np.ones_like(taus)
        for k in range(order):
            if k != j:
                basis *= (taus - nodes[k]) / (nodes[j] - nodes[k])
        coefficients.append(float(np.sum(weight * basis)))
    return coefficients


@torch.no_grad()
def sample_deis(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                max_order: int = 3) -> torch.Tensor:
    """DEIS-tAB: Euler first, then multistep of growing order up to `max_order` (1 to 4); Euler into sigma 0."""
    if not 1 <= max_order <= 4:
        raise ValueError(f"deis: max_order must be 1 to 4, not {max_order}")
    kwargs, _ = split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    times = vp_time(sigmas.detach().cpu().double().numpy())
    history: list[torch.Tensor] = []  # earlier slopes, newest first
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        report(callback, i, x, sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        order = 1 if to_zero[i] else min(max_order, i + 1)
        if order == 1:
            x = x + (sigmas[i + 1] - sigmas[i]) * d
        else:
            slopes = [d] + history[:order - 1]
            x = x + sum(c * slope for c, slope in zip(deis_coefficients(times, i, order), slopes))
        history = ([d] + history)[:max(max_order - 1, 0)]
    return x
