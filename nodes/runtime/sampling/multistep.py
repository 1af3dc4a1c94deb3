"""Samplers ComfyUI added to k-diffusion's: DDPM, Heun++, iPNDM, RES multistep, gradient estimation, ER-SDE."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from .noise import NoiseSampler, ancestral_noise_sampler
from .sampler_basics import (Callback, Denoise, ancestral_step, host_ancestral_steps, report, split_args, steps_to_zero,
                             to_d, with_uncond_sink)


@torch.no_grad()
def sample_heunpp2(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                   callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Heun++ (from the sd-webui-samplers-scheduler extension): Euler probes to the next one or two sigmas, the step
    taken with their slopes weighted by sigma / (k * sigmas[0]) (k = number of slopes); Heun near the end, Euler
    last."""
    kwargs, _ = split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    host = sigmas.tolist()  # the branches compare sigmas: on the host, once
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        report(callback, i, x, sigmas[i], denoised)
        d, dt = to_d(x, sigmas[i], denoised), sigmas[i + 1] - sigmas[i]
        if host[i + 1] == host[-1]:
            x = x + d * dt
            continue
        x_2 = x + d * dt
        d_2 = to_d(x_2, sigmas[i + 1], model(x_2, sigmas[i + 1] * s_in, **kwargs))
        if host[i + 2] == host[-1]:
            w_2 = sigmas[i + 1] / (2 * sigmas[0])
            x = x + (d * (1 - w_2) + d_2 * w_2) * dt
        else:
            x_3 = x_2 + d_2 * (sigmas[i + 2] - sigmas[i + 1])
            d_3 = to_d(x_3, sigmas[i + 2], model(x_3, sigmas[i + 2] * s_in, **kwargs))
            w_2, w_3 = sigmas[i + 1] / (3 * sigmas[0]), sigmas[i + 2] / (3 * sigmas[0])
            x = x + ((1 - w_2 - w_3) * d + w_2 * d_2 + w_3 * d_3) * dt
    return x


@torch.no_grad()
def sample_ddpm(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Ho et al. (2020)'s ancestral step p(x_prev | x_t) between any two sigmas, taken in variance-preserving units.

    With abar = 1 / (1 + sigma^2) and a = abar_t / abar_prev: mean (x - (1 - a) eps / sqrt(1 - abar_t)) / sqrt(a),
    variance (1 - a)(1 - abar_prev) / (1 - abar_t); no noise on the step into sigma = 0.
    """
    kwargs, seed = split_args(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        sigma, sigma_prev = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in, **kwargs)
        report(callback, i, x, sigma, denoised)
        abar, abar_prev = 1 / (sigma ** 2 + 1), 1 / (sigma_prev ** 2 + 1)
        a = abar / abar_prev
        eps = (x - denoised) / sigma
        x = (1.0 / a).sqrt() * (x / torch.sqrt(1.0 + sigma ** 2) - (1 - a) * eps / (1 - abar).sqrt())
        if not to_zero[i]:
            x = x + ((1 - a) * (1 - abar_prev) / (1 - abar)).sqrt() * noise_sampler(sigma, sigma_prev)
            x = x * torch.sqrt(1.0 + sigma_prev ** 2)
    return x


# Adams-Bashforth weights for equal steps, newest slope first (orders 1 to 4).
ADAMS_BASHFORTH = ((1.0,), (3 / 2, -1 / 2), (23 / 12, -16 / 12, 5 / 12), (55 / 24, -59 / 24, 37 / 24, -9 / 24))


def _adams_bashforth(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None,
                     callback: Callback | None, max_order: int,
                     weights: Callable[[list[torch.Tensor]], Sequence[torch.Tensor | float]]) -> torch.Tensor:
    """Multistep in sigma over the last `max_order` slopes, newest first, weighted by `weights(steps)` (the step to
    take, then the earlier ones); the step into sigma = 0 returns the x0 prediction."""
    kwargs, _ = split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    slopes: list[torch.Tensor] = []
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        report(callback, i, x, sigmas[i], denoised)
        slopes = [to_d(x, sigmas[i], denoised)] + slopes[:max_order - 1]
        if to_zero[i]:
            x = denoised
        else:
            steps = [sigmas[i + 1 - k] - sigmas[i - k] for k in range(len(slopes))]
            x = x + steps[0] * sum(w * d for w, d in zip(weights(steps), slopes))
    return x


@torch.no_grad()
def sample_ipndm(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                 callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                 max_order: int = 4) -> torch.Tensor:
    """Improved PNDM (Zhang & Chen 2022, DEIS paper): Adams-Bashforth in sigma with equal-step weights, the order
    growing to `max_order` with the history."""
    return _adams_bashforth(model, x, sigmas, extra_args, callback, max_order,
                            lambda steps: ADAMS_BASHFORTH[len(steps) - 1])



def _variable_step_weights(h: list[torch.Tensor]) -> list[torch.Tensor]:
    """iPNDM-v's weights for the newest slope first, from the step h[0] about to be taken and the earlier steps
    h[1], h[2], h[3] (as many as the order needs); with equal steps they are ADAMS_BASHFORTH's."""
    if len(h) == 1:
        return [h[0].new_ones(())]
    ratio = h[0] / h[1]
    if len(h) == 2:
        return [1 + ratio / 2, -ratio / 2]
    span_1, span_2 = h[0] + h[1], h[1] + h[2]
    third = (1 - h[0] / (3 * span_1) * (h[0] * span_1) / (h[1] * span_2)) / 2
    weights = [1 + ratio / 2 + third, -ratio / 2 - (1 + h[1] / h[2]) * third, third * h[1] / h[2]]
    if len(h) == 3:
        return weights
    span_3 = h[0] + h[1] + h[2]
    growth = h[1] * span_2 / (h[2] * (h[2] + h[3]))
    fourth = (((1 - h[0] / (3 * span_1)) / 2 + (1 - h[0] / (2 * span_1)) * h[0] / (6 * span_3))
              * (h[0] * span_1 * span_3) / (h[1] * span_2 * (h[1] + h[2] + h[3])))
    return [weights[0] + fourth, weights[1] - (1 + h[1] / h[2] + growth) * fourth,
            weights[2] + (h[1] / h[2] + growth * (1 + h[2] / h[3])) * fourth, -fourth * growth * h[1] / h[2]]


@torch.no_grad()
def sample_ipndm_v(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                   callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                   max_order: int = 4) -> torch.Tensor:
    """iPNDM with variable steps (Zhou et al. 2024, "Fast ODE-based sampling", zju-pi diff-solvers): `ipndm` with
    weights adapted to unequal sigma steps."""
    return _adams_bashforth(model, x, sigmas, extra_args, callback, max_order, _variable_step_weights)


def _res_multistep(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None,
                   callback: Callback | None, noise_sampler: NoiseSampler | None, eta: float,
                   s_noise: float, cfg_pp: bool = False) -> torch.Tensor:
    """RES second-order multistep (Zhang et al. 2023, arXiv:2308.02157) in lambda = -log(sigma): exponential
    integrator with phi_1/phi_2 weights on this and the last x0 prediction, down to sigma_down; ancestral noise on top.
    With CFG++ the negative prediction drives the step and x is first moved by (guided - negative)."""
    kwargs, seed, uncond_of = with_uncond_sink(extra_args) if cfg_pp else (*split_args(extra_args), None)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    old_denoised, old_sigma_down = None, None
    host_steps = host_ancestral_steps(sigmas, eta)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        driving = uncond_of(denoised) if cfg_pp else denoised
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        report(callback, i, x, sigmas[i], denoised)
        if host_steps[i][0] == 0 or old_denoised is None:
            d = to_d(x, sigmas[i], driving)
            x = denoised + d * sigma_down if cfg_pp else x + d * (sigma_down - sigmas[i])
        else:
            h = sigmas[i].log() - sigma_down.log()
            c2 = (old_sigma_down.log() - sigmas[i - 1].log()) / h
            phi_1 = torch.expm1(-h) / -h
            phi_2 = (phi_1 - 1) / -h
            b_1 = torch.nan_to_num(phi_1 - phi_2 / c2, nan=0.0)
            b_2 = torch.nan_to_num(phi_2 / c2, nan=0.0)
            if cfg_pp:
                x = x + (denoised - driving)
            x = (-h).exp() * x + h * (b_1 * driving + b_2 * old_denoised)
        if host_steps[i][1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
        old_denoised, old_sigma_down = driving, sigma_down
    return x


@torch.no_grad()
def sample_res_multistep(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                         callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                         s_noise: float = 1.0) -> torch.Tensor:
    """RES multistep as an ODE solver (no noise)."""
    return _res_multistep(model, x, sigmas, extra_args, callback, noise_sampler, 0.0, s_noise)


@torch.no_grad()
def sample_res_multistep_cfg_pp(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                                callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                                s_noise: float = 1.0) -> torch.Tensor:
    """RES multistep with CFG++, no noise."""
    return _res_multistep(model, x, sigmas, extra_args, callback, noise_sampler, 0.0, s_noise, cfg_pp=True)


@torch.no_grad()
def sample_res_multistep_ancestral(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor,
                                   extra_args: dict | None = None, callback: Callback | None = None,
                                   noise_sampler: NoiseSampler | None = None, eta: float = 1.0,
                                   s_noise: float = 1.0) -> torch.Tensor:
    """RES multistep down to sigma_down, then fresh noise up to the next sigma."""
    return _res_multistep(model, x, sigmas, extra_args, callback, noise_sampler, eta, s_noise)


@torch.no_grad()
def sample_res_multistep_ancestral_cfg_pp(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor,
                                          extra_args: dict | None = None, callback: Callback | None = None,
                                          noise_sampler: NoiseSampler | None = None, eta: float = 1.0,
                                          s_noise: float = 1.0) -> torch.Tensor:
    """Ancestral RES multistep with CFG++."""
    return _res_multistep(model, x, sigmas, extra_args, callback, noise_sampler, eta, s_noise, cfg_pp=True)


def _gradient_estimation(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None,
                         callback: Callback | None, ge_gamma: float, cfg_pp: bool) -> torch.Tensor:
    kwargs, _, uncond_of = with_uncond_sink(extra_args) if cfg_pp else (*split_args(extra_args), None)
    s_in = x.new_ones([x.shape[0]])
    old_d = None
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        d = to_d(x, sigmas[i], uncond_of(denoised) if cfg_pp else denoised)
        report(callback, i, x, sigmas[i], denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if to_zero[i]:
            x = denoised
        else:
            x = denoised + d * sigmas[i + 1] if cfg_pp else x + d * dt
            if old_d is not None:
                x = x + (ge_gamma - 1) * (d - old_d) * dt
        old_d = d
    return x


@torch.no_grad()
def sample_gradient_estimation(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                               callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                               ge_gamma: float = 2.0) -> torch.Tensor:
    """Euler plus (ge_gamma - 1) times the change in slope since the last step (Permenter & Yuan 2024, gradient
    estimation); the step into sigma = 0 returns the x0 prediction."""
    return _gradient_estimation(model, x, sigmas, extra_args, callback, ge_gamma, cfg_pp=False)


@torch.no_grad()
def sample_gradient_estimation_cfg_pp(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor,
                                      extra_args: dict | None = None, callback: Callback | None = None,
                                      noise_sampler: NoiseSampler | None = None, ge_gamma: float = 2.0) -> torch.Tensor:
    """Gradient estimation with CFG++: the Euler part re-noises the guided x0 along the negative's noise direction."""
    return _gradient_estimation(model, x, sigmas, extra_args, callback, ge_gamma, cfg_pp=True)


def er_sde_noise_scaler(eta: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """ER-SDE's noise scale function x (e^(x^0.3) + 10)^eta (eta 1: the paper's; 0: the ODE's x)."""
    return lambda lam: lam * ((lam ** 0.3).exp() + 10.0) ** eta


def reverse_time_sde_noise_scaler(eta: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """The reverse-time SDE's noise scale function x^(eta + 1)."""
    return lambda lam: lam ** (eta + 1)


ER_SDE_INTEGRATION_POINTS = 200  # Riemann-sum points for the stage 2 and 3 integrals, as ComfyUI takes them


@torch.no_grad()
def sample_er_sde(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                  callback: Callback | None = None, noise_sampler: NoiseSampler | None = None, s_noise: float = 1.0,
                  noise_scaler: Callable[[torch.Tensor], torch.Tensor] | None = None,
                  max_stage: int = 3) -> torch.Tensor:
    """Extended reverse-time SDE solver (Cui et al. 2023, arXiv:2309.06169), VP data prediction, up to 3 stages.

    In lambda = sigma / alpha (sigma for SD's models) the step keeps r = scaler(lambda_t) / scaler(lambda_s) of x,
    takes 1 - r of the x0 prediction, adds first and second differences of earlier predictions weighted by integrals
    of 1 / scaler, and noise of std sqrt(lambda_t^2 - r^2 lambda_s^2).
    """
    kwargs, seed = split_args(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    scaler = noise_scaler or er_sde_noise_scaler()
    s_in = x.new_ones([x.shape[0]])
    points = torch.arange(0, ER_SDE_INTEGRATION_POINTS, dtype=torch.float32, device=x.device)
    lambdas = sigmas.log().exp()  # sigma / alpha = exp(-half log-SNR), rounded as ComfyUI rounds it
    old_denoised = old_slope = None
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        report(callback, i, x, sigmas[i], denoised)
        if to_zero[i]:
            x = denoised
        else:
            lam_s, lam_t = lambdas[i], lambdas[i + 1]
            alpha_s, alpha_t = sigmas[i] / lam_s, sigmas[i + 1] / lam_t
            r = scaler(lam_t) / scaler(lam_s)
            x = alpha_t / alpha_s * r * x + alpha_t * (1 - r) * denoised
            stage = min(max_stage, i + 1)
            if stage >= 2:
                dt = lam_t - lam_s
                step = -dt / ER_SDE_INTEGRATION_POINTS
                grid = lam_t + points * step
                scaled = scaler(grid)
                slope = (denoised - old_denoised) / (lam_s - lambdas[i - 1])
                x = x + alpha_t * (dt + torch.sum(1 / scaled) * step * scaler(lam_t)) * slope
                if stage >= 3:
                    curvature = (slope - old_slope) / ((lam_s - lambdas[i - 2]) / 2)
                    s_u = torch.sum((grid - lam_s) / scaled) * step
                    x = x + alpha_t * (dt ** 2 / 2 + s_u * scaler(lam_t)) * curvature
                old_slope = slope
            if s_noise > 0:
                spread = (lam_t ** 2 - lam_s ** 2 * r ** 2).sqrt().nan_to_num(nan=0.0)
                x = x + alpha_t * noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * spread
        old_denoised = denoised
    return x
