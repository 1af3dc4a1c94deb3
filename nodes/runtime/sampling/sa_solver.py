"""SA-Solver (Xue et al. 2023, "SA-Solver: Stochastic Adams Solver for Fast Sampling of Diffusion Models",
arXiv:2309.05019): stochastic Adams predictor-corrector in lambda = -log(sigma) on the x0 predictions.

With stochasticity tau on a step from lambda_s to lambda_t (h = lambda_t - lambda_s, a = 1 + tau^2):
    x_t = (sigma_t / sigma_s) e^(-tau^2 h) x_s + sum_k b_k D_k + sigma_t sqrt(1 - e^(-2 tau^2 h)) z,
    b_k = a * integral over [lambda_s, lambda_t] of e^(-a (lambda_t - lambda)) L_k(lambda),
L_k the Lagrange basis through the lambdas of the x0 predictions D_k used. The predictor uses the last predictions
up to the step's start; the corrector redoes the step once the prediction at its end is known, with the same noise.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from .noise import NoiseSampler, ancestral_noise_sampler
from .sampler_basics import Callback, Denoise, report, split_args
from .schedule import DiscreteSchedule, sd_schedule

TauFunction = Callable[[torch.Tensor | float], float]


def sde_interval(start_sigma: float, end_sigma: float, eta: float = 1.0) -> TauFunction:
    """Stochasticity eta for noise levels from start_sigma down to end_sigma (inclusive), none elsewhere
    (ComfyUI's reading of the paper's tau(t), in sigma instead of time)."""
    def tau(sigma: torch.Tensor | float) -> float:
        if eta <= 0:
            return 0.0
        return eta if start_sigma >= float(sigma) >= end_sigma else 0.0

    return tau


def _exponential_moments(h: float, a: float, count: int) -> list[float]:
    """M_p = integral of e^(a (u - h)) u^p du over u in [0, h], p < count, by parts: M_p = (h^p - p M_(p-1)) / a."""
    moments = [-math.expm1(-a * h) / a]
    for p in range(1, count):
        moments.append((h ** p - p * moments[-1]) / a)
    return moments


def adams_coefficients(lambdas: list[float], lambda_s: float, lambda_t: float, tau: float) -> list[float]:
    """b_k (without the alpha_t factor, 1 for SD's models) for x0 predictions at `lambdas` (oldest first)."""
    a, h = 1 + tau ** 2, lambda_t - lambda_s
    moments = _exponential_moments(h, a, len(lambdas))
    # In u = lambda - lambda_s: sum_k L_k(u) u_k^p = u^p, so the weights w solve V^T w = a M, V[k, p] = u_k^p.
    nodes = np.array(lambdas, dtype=np.float64) - lambda_s
    vandermonde = np.vander(nodes, len(lambdas), increasing=True)
    return [float(w) for w in np.linalg.solve(vandermonde.T, a * np.array(moments))]


def simple_order_2_coefficients(lambdas: list[float], lambda_s: float, lambda_t: float, tau: float,
                                corrector: bool) -> list[float]:
    """The paper's simplified two-point coefficients (its appendix D), oldest first: the predictor extrapolates the
    slope between the two predictions, the corrector takes the trapezoid-like weight a h / 2 on the newest."""
    a, h = 1 + tau ** 2, lambda_t - lambda_s
    total = -math.expm1(-a * h)
    if corrector:
        newest = a * h / 2
        return [total - newest, newest]
    older = a * h ** 2 / 2 / (lambdas[0] - lambda_s)
    return [older, total - older]


def _step_coefficients(lambdas: torch.Tensor, lambda_s: torch.Tensor, lambda_t: torch.Tensor, tau: float,
                       simple_order_2: bool, corrector: bool) -> list[float]:
    points = [float(v) for v in lambdas]
    if simple_order_2 and len(points) == 2:
        return simple_order_2_coefficients(points, float(lambda_s), float(lambda_t), tau, corrector)
    return adams_coefficients(points, float(lambda_s), float(lambda_t), tau)


def _combine(coefficients: list[float], predictions: list[torch.Tensor]) -> torch.Tensor:
    return sum(c * d for c, d in zip(coefficients, predictions))


@torch.no_grad()
def sample_sa_solver(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                     callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                     tau_func: TauFunction | None = None, s_noise: float = 1.0, predictor_order: int = 3,
                     corrector_order: int = 4, use_pece: bool = False, simple_order_2: bool = False,
                     schedule: DiscreteSchedule | None = None) -> torch.Tensor:
    """SA-Solver with a `predictor_order`-step predictor and `corrector_order`-step corrector; `use_pece`
    re-evaluates the model on each corrected latent (one more call per step). By default the steps between 20% and
    80% of the model's schedule are stochastic with tau 1 (`schedule`: the model's, given by the KSampler; SD's
    otherwise). Into sigma 0 the orders fall so that the last step is the x0 prediction."""
    if len(sigmas) <= 1:
        return x
    kwargs, seed = split_args(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    if tau_func is None:
        schedule = schedule or sd_schedule()
        tau_func = sde_interval(schedule.percent_to_sigma(0.2), schedule.percent_to_sigma(0.8))
    s_in = x.new_ones([x.shape[0]])
    lambdas = -sigmas.log()
    steps = len(sigmas) - 1
    lower_order_to_end = float(sigmas[-1]) == 0
    predictions: list[torch.Tensor] = []
    x_pred, tau, h, noise = x, 0.0, 0.0, 0.0
    for i in range(steps):
        denoised = model(x_pred, sigmas[i] * s_in, **kwargs)
        report(callback, i, x_pred, sigmas[i], denoised)
        predictions = (predictions + [denoised])[-max(predictor_order, corrector_order):]
        p_order = min(predictor_order, len(predictions))
        last_without_pece = sigmas[i + 1] == 0 and not use_pece
        c_order = 0 if i == 0 or last_without_pece else min(corrector_order, len(predictions))
        if lower_order_to_end:
            p_order, c_order = min(p_order, steps - 1 - i), min(c_order, steps - i)
        if c_order == 0:
            x = x_pred
        else:  # redo the step that led here, now that its end's prediction is known
            b = _step_coefficients(lambdas[i - c_order + 1:i + 1], lambdas[i - 1], lambdas[i], tau, simple_order_2,
                                   corrector=True)
            x = sigmas[i] / sigmas[i - 1] * math.exp(-tau ** 2 * h) * x + _combine(b, predictions[-c_order:])
            if tau > 0 and s_noise > 0:
                x = x + noise
            if use_pece:
                denoised = model(x, sigmas[i] * s_in, **kwargs)
                predictions[-1] = denoised
        if sigmas[i + 1] == 0:
            x_pred = denoised
            continue
        tau = tau_func(sigmas[i + 1])
        b = _step_coefficients(lambdas[i - p_order + 1:i + 1], lambdas[i], lambdas[i + 1], tau, simple_order_2,
                               corrector=False)
        h = float(lambdas[i + 1] - lambdas[i])
        x_pred = sigmas[i + 1] / sigmas[i] * math.exp(-tau ** 2 * h) * x + _combine(b, predictions[-p_order:])
        if tau > 0 and s_noise > 0:
            noise = (noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1]
                     * math.sqrt(-math.expm1(-2 * tau ** 2 * h)) * s_noise)
            x_pred = x_pred + noise
    return x_pred


def sample_sa_solver_pece(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                          callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                          tau_func: TauFunction | None = None, s_noise: float = 1.0, predictor_order: int = 3,
                          corrector_order: int = 4, simple_order_2: bool = False,
                          schedule: DiscreteSchedule | None = None) -> torch.Tensor:
    """`sa_solver` in PECE mode (predict, evaluate, correct, evaluate)."""
    return sample_sa_solver(model, x, sigmas, extra_args, callback, noise_sampler, tau_func, s_noise,
                            predictor_order, corrector_order, True, simple_order_2, schedule)
