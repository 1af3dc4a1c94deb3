"""Samplers by ComfyUI name: one short function each, same signature, maths in k-diffusion form.

`model(x, sigma, **extra_args)` is a denoiser returning x0 for a batch of sigmas; x is the latent in
k-diffusion units (x = x0 + sigma * eps). `sigmas` descend and usually end in 0. `extra_args["seed"]`
(the KSampler seed) picks the per-step noise as ComfyUI does and is not passed on to the model.
`callback` is the one progress hook: called once per step with {"i", "x", "sigma", "denoised"} (DPM-Solver's
`dpm_fast` and `dpm_adaptive` choose their own steps and report those). A sampler with a `schedule` keyword gets the
model's noise schedule from the KSampler (SamplerObject).

CFG++ samplers (`*_cfg_pp`, Chung et al. 2024) also need the negative prompt's own x0 prediction: they pass the
model an `uncond_sink` dict, which a guiding denoiser fills under "uncond"; a model that leaves it empty is taken to
have no separate negative (its guided prediction stands in, and CFG++ becomes the plain sampler).
"""
from __future__ import annotations

import numpy as np
import torch

from .cfg_pp import (sample_dpmpp_2m_cfg_pp, sample_dpmpp_2s_ancestral_cfg_pp, sample_euler_ancestral_cfg_pp,
                     sample_euler_cfg_pp)
from .deis import sample_deis
from .dpm_solver import sample_dpm_adaptive, sample_dpm_fast
from .multistep import (sample_ddpm, sample_er_sde, sample_gradient_estimation, sample_gradient_estimation_cfg_pp,
                        sample_heunpp2, sample_ipndm, sample_ipndm_v, sample_res_multistep,
                        sample_res_multistep_ancestral, sample_res_multistep_ancestral_cfg_pp,
                        sample_res_multistep_cfg_pp)
from .noise import NoiseSampler, ancestral_noise_sampler, brownian_noise_sampler
from .sa_solver import sample_sa_solver, sample_sa_solver_pece
from .sampler_basics import (Callback, Denoise, Sampler, ancestral_step, ancestral_steps_to_zero, report, split_args,
                             steps_to_zero, to_d)
from .seeds import sample_exp_heun_2_x0, sample_exp_heun_2_x0_sde, sample_seeds_2, sample_seeds_3
from .uni_pc import sample_uni_pc, sample_uni_pc_bh2


@torch.no_grad()
def sample_euler(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                 callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Euler steps on the probability-flow ODE (Karras et al. 2022, Algorithm 2 without churn)."""
    kwargs, _ = split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        report(callback, i, x, sigmas[i], denoised)
        x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
    return x


@torch.no_grad()
def sample_ddim(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """DDIM with eta = 0 (Song et al. 2020), which is exactly an Euler step in sigma: ComfyUI runs euler."""
    return sample_euler(model, x, sigmas, extra_args, callback)


@torch.no_grad()
def sample_euler_ancestral(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                           callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                           eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """Euler down to sigma_down, then fresh noise up to sigma_next (k-diffusion's ancestral sampling, as in DDPM)."""
    kwargs, seed = split_args(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    down_to_zero = ancestral_steps_to_zero(sigmas, eta)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        report(callback, i, x, sigmas[i], denoised)
        if down_to_zero[i]:
            x = denoised
        else:
            x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_heun(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Heun's second-order method (Karras et al. 2022, Algorithm 2 without churn); Euler into sigma = 0."""
    kwargs, _ = split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        report(callback, i, x, sigmas[i], denoised)
        d, dt = to_d(x, sigmas[i], denoised), sigmas[i + 1] - sigmas[i]
        if to_zero[i]:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, sigmas[i + 1], model(x_2, sigmas[i + 1] * s_in, **kwargs))
            x = x + (d + d_2) / 2 * dt
    return x


def _dpm_2_step(model: Denoise, x: torch.Tensor, sigma: torch.Tensor, sigma_to: torch.Tensor,
                d: torch.Tensor, s_in: torch.Tensor, kwargs: dict) -> torch.Tensor:
    """Midpoint step: slope taken at the geometric mean of the two sigmas (DPM-Solver-2, Lu et al. 2022)."""
    sigma_mid = sigma.log().lerp(sigma_to.log(), 0.5).exp()
    x_2 = x + d * (sigma_mid - sigma)
    d_2 = to_d(x_2, sigma_mid, model(x_2, sigma_mid * s_in, **kwargs))
    return x + d_2 * (sigma_to - sigma)


@torch.no_grad()
def sample_dpm_2(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                 callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """DPM-Solver-2 style midpoint steps in sigma (Lu et al. 2022; k-diffusion's `dpm_2`)."""
    kwargs, _ = split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        report(callback, i, x, sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        if to_zero[i]:
            x = x + d * (sigmas[i + 1] - sigmas[i])
        else:
            x = _dpm_2_step(model, x, sigmas[i], sigmas[i + 1], d, s_in, kwargs)
    return x


@torch.no_grad()
def sample_dpm_2_ancestral(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                           callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                           eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """`dpm_2` down to sigma_down, then fresh noise up to sigma_next."""
    kwargs, seed = split_args(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    down_to_zero = ancestral_steps_to_zero(sigmas, eta)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        report(callback, i, x, sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        if down_to_zero[i]:
            x = x + d * (sigma_down - sigmas[i])
        else:
            x = _dpm_2_step(model, x, sigmas[i], sigma_down, d, s_in, kwargs)
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def lms_coefficient(order: int, t: np.ndarray, i: int, j: int) -> float:
    """Integral over [t_i, t_{i+1}] of the Lagrange basis polynomial for node t_{i-j} among t_i..t_{i-order+1}.

    The integrand is a polynomial of degree order - 1, so Gauss-Legendre with `order` nodes is exact.
    """
    nodes, weights = np.polynomial.legendre.leggauss(max(order, 1))
    a, b = float(t[i]), float(t[i + 1])
    tau = (b - a) / 2 * nodes + (a + b) / 2
    basis = np.ones_like(tau)
    for k in range(order):
        if k != j:
            basis *= (tau - t[i - k]) / (t[i - j] - t[i - k])
    return float((b - a) / 2 * np.sum(weights * basis))


@torch.no_grad()
def sample_lms(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
               callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
               order: int = 4) -> torch.Tensor:
    """Linear multistep (Adams-Bashforth in sigma) over the last `order` slopes (k-diffusion's `lms`)."""
    kwargs, _ = split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    t = sigmas.detach().cpu().double().numpy()
    ds: list[torch.Tensor] = []
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        ds = (ds + [to_d(x, sigmas[i], denoised)])[-order:]
        report(callback, i, x, sigmas[i], denoised)
        if to_zero[i]:
            x = denoised
        else:
            cur = min(i + 1, order)
            coeffs = [lms_coefficient(cur, t, i, j) for j in range(cur)]
            x = x + sum(c * d for c, d in zip(coeffs, reversed(ds)))
    return x


@torch.no_grad()
def sample_dpmpp_2s_ancestral(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                              callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                              eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """DPM-Solver++(2S) single-step second order (Lu et al. 2022b, arXiv:2211.01095) with ancestral noise."""
    kwargs, seed = split_args(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    down_to_zero = ancestral_steps_to_zero(sigmas, eta)
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        report(callback, i, x, sigmas[i], denoised)
        if down_to_zero[i]:
            x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            # In lambda = -log(sigma): step half way, re-denoise there, take the full step with that estimate.
            h = sigmas[i].log() - sigma_down.log()
            sigma_s = (sigmas[i].log() - h / 2).exp()
            x_2 = (sigma_s / sigmas[i]) * x - torch.expm1(-h / 2) * denoised
            x = (sigma_down / sigmas[i]) * x - torch.expm1(-h) * model(x_2, sigma_s * s_in, **kwargs)
        if not to_zero[i]:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_dpmpp_2m(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """DPM-Solver++(2M): two-step multistep data prediction (Lu et al. 2022b, Algorithm 2)."""
    kwargs, _ = split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    old_denoised = None
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        report(callback, i, x, sigmas[i], denoised)
        h = sigmas[i].log() - sigmas[i + 1].log()  # lambda step, lambda = -log(sigma)
        if old_denoised is None or to_zero[i]:
            denoised_d = denoised
        else:
            r = (sigmas[i - 1].log() - sigmas[i].log()) / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
        x = (sigmas[i + 1] / sigmas[i]) * x - torch.expm1(-h) * denoised_d
        old_denoised = denoised
    return x


@torch.no_grad()
def _sample_dpmpp_sde(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None,
                      callback: Callback | None, noise_sampler: NoiseSampler | None, eta: float, s_noise: float,
                      r: float, cpu_tree: bool) -> torch.Tensor:
    kwargs, seed = split_args(extra_args)
    if len(sigmas) <= 1:
        return x
    noise_sampler = noise_sampler or brownian_noise_sampler(x, sigmas, seed, cpu=cpu_tree)
    s_in = x.new_ones([x.shape[0]])
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        report(callback, i, x, sigmas[i], denoised)
        if to_zero[i]:
            x = denoised
            continue
        lambda_s, lambda_t = -sigmas[i].log(), -sigmas[i + 1].log()
        sigma_mid = (-(lambda_s + r * (lambda_t - lambda_s))).exp()
        # Stage 1: ancestral step to the intermediate sigma, then denoise there.
        sd, su = ancestral_step(sigmas[i], sigma_mid, eta)
        x_2 = (sd / sigmas[i]) * x - torch.expm1(sd.log() - sigmas[i].log()) * denoised
        x_2 = x_2 + noise_sampler(sigmas[i], sigma_mid) * s_noise * su
        denoised_2 = model(x_2, sigma_mid * s_in, **kwargs)
        # Stage 2: full ancestral step with the blended x0 estimate.
        sd, su = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        denoised_d = (1 - 1 / (2 * r)) * denoised + 1 / (2 * r) * denoised_2
        x = (sd / sigmas[i]) * x - torch.expm1(sd.log() - sigmas[i].log()) * denoised_d
        x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * su
    return x


def sample_dpmpp_sde(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                     callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                     eta: float = 1.0, s_noise: float = 1.0, r: float = 0.5) -> torch.Tensor:
    """DPM-Solver++ stochastic second order (SDE-DPM-Solver++, Lu et al. 2022b), Brownian-tree noise on the CPU."""
    return _sample_dpmpp_sde(model, x, sigmas, extra_args, callback, noise_sampler, eta, s_noise, r, cpu_tree=True)


def sample_dpmpp_sde_gpu(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                         callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                         eta: float = 1.0, s_noise: float = 1.0, r: float = 0.5) -> torch.Tensor:
    """`dpmpp_sde` with the Brownian tree on the latent's device (different numbers than the CPU tree)."""
    return _sample_dpmpp_sde(model, x, sigmas, extra_args, callback, noise_sampler, eta, s_noise, r, cpu_tree=False)


@torch.no_grad()
def _sample_dpmpp_multistep_sde(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None,
                                callback: Callback | None, noise_sampler: NoiseSampler | None, eta: float,
                                s_noise: float, order: int, cpu_tree: bool,
                                solver_type: str = "midpoint") -> torch.Tensor:
    """DPM-Solver++(2M/3M) SDE: exponential integrator in lambda with phi_2/phi_3 corrections and SDE noise.

    Order 2 corrects with the last two x0 predictions by the midpoint rule or, for `solver_type` "heun", by phi_2
    (the same correction 3M uses while it has one earlier prediction).
    """
    if solver_type not in ("midpoint", "heun"):
        raise ValueError(f"solver_type must be 'midpoint' or 'heun', not {solver_type!r}")
    kwargs, seed = split_args(extra_args)
    if len(sigmas) <= 1:
        return x
    noise_sampler = noise_sampler or brownian_noise_sampler(x, sigmas, seed, cpu=cpu_tree)
    s_in = x.new_ones([x.shape[0]])
    history: list[tuple[torch.Tensor, torch.Tensor]] = []  # (denoised, h) of earlier steps, newest first
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        report(callback, i, x, sigmas[i], denoised)
        h = None
        if to_zero[i]:
            x = denoised
        else:
            h = sigmas[i].log() - sigmas[i + 1].log()
            h_eta = h * (eta + 1)
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - torch.expm1(-h_eta) * denoised
            phi_2 = torch.expm1(-h_eta) / h_eta + 1
            if order == 3 and len(history) >= 2:
                (den_1, h_1), (den_2, h_2) = history[0], history[1]
                r0, r1 = h_1 / h, h_2 / h
                d1_0, d1_1 = (denoised - den_1) / r0, (den_1 - den_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                x = x + phi_2 * d1 - (phi_2 / h_eta - 0.5) * d2
            elif history and (order == 3 or solver_type == "heun"):
                x = x + phi_2 * (denoised - history[0][0]) / (history[0][1] / h)
            elif order == 2 and history:  # midpoint variant, ComfyUI's default
                x = x - 0.5 * torch.expm1(-h_eta) * (denoised - history[0][0]) / (history[0][1] / h)
            if eta > 0 and s_noise > 0:
                x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (
                    -torch.expm1(-2 * h * eta)).sqrt() * s_noise
        history = [(denoised, h)] + history[:1]
    return x


def sample_dpmpp_2m_sde(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                        callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                        eta: float = 1.0, s_noise: float = 1.0, solver_type: str = "midpoint") -> torch.Tensor:
    """DPM-Solver++(2M) SDE, midpoint variant (Lu et al. 2022b), Brownian-tree noise on the CPU."""
    return _sample_dpmpp_multistep_sde(model, x, sigmas, extra_args, callback, noise_sampler, eta, s_noise, 2, True,
                                       solver_type)


def sample_dpmpp_2m_sde_gpu(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                            callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                            eta: float = 1.0, s_noise: float = 1.0, solver_type: str = "midpoint") -> torch.Tensor:
    """`dpmpp_2m_sde` with the Brownian tree on the latent's device."""
    return _sample_dpmpp_multistep_sde(model, x, sigmas, extra_args, callback, noise_sampler, eta, s_noise, 2, False,
                                       solver_type)


def sample_dpmpp_2m_sde_heun(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                             callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                             eta: float = 1.0, s_noise: float = 1.0, solver_type: str = "heun") -> torch.Tensor:
    """DPM-Solver++(2M) SDE with the Heun-style phi_2 correction, Brownian-tree noise on the CPU."""
    return _sample_dpmpp_multistep_sde(model, x, sigmas, extra_args, callback, noise_sampler, eta, s_noise, 2, True,
                                       solver_type)


def sample_dpmpp_2m_sde_heun_gpu(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                                 callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                                 eta: float = 1.0, s_noise: float = 1.0, solver_type: str = "heun") -> torch.Tensor:
    """`dpmpp_2m_sde_heun` with the Brownian tree on the latent's device."""
    return _sample_dpmpp_multistep_sde(model, x, sigmas, extra_args, callback, noise_sampler, eta, s_noise, 2, False,
                                       solver_type)


def sample_dpmpp_3m_sde(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                        callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                        eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """DPM-Solver++(3M) SDE (Lu et al. 2022b, third-order multistep), Brownian-tree noise on the CPU."""
    return _sample_dpmpp_multistep_sde(model, x, sigmas, extra_args, callback, noise_sampler, eta, s_noise, 3, True)


def sample_dpmpp_3m_sde_gpu(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                            callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                            eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """`dpmpp_3m_sde` with the Brownian tree on the latent's device."""
    return _sample_dpmpp_multistep_sde(model, x, sigmas, extra_args, callback, noise_sampler, eta, s_noise, 3, False)


@torch.no_grad()
def sample_lcm(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
               callback: Callback | None = None, noise_sampler: NoiseSampler | None = None, s_noise: float = 1.0,
               s_noise_end: float | None = None, noise_clip_std: float = 0.0) -> torch.Tensor:
    """Latent Consistency Model multistep sampling (Luo et al. 2023): jump to x0, re-noise to sigma_next.

    The fresh noise can be clamped to +/- noise_clip_std of its spread and scaled by a factor going linearly from
    s_noise at the first step to s_noise_end at the last (SamplerLCM's options).
    """
    kwargs, seed = split_args(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    steps = len(sigmas) - 1
    s_end = s_noise if s_noise_end is None else s_noise_end
    to_zero = steps_to_zero(sigmas)
    for i in range(steps):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        report(callback, i, x, sigmas[i], denoised)
        x = denoised
        if not to_zero[i]:
            noise = noise_sampler(sigmas[i], sigmas[i + 1])
            if noise_clip_std > 0:
                limit = noise_clip_std * noise.std()
                noise = noise.clamp(min=-limit, max=limit)
            scale = s_noise + (s_end - s_noise) * (i / (steps - 1) if steps > 1 else 0.0)
            if scale != 1.0:
                noise = noise * scale
            x = x + sigmas[i + 1] * noise
    return x


@torch.no_grad()
def sample_lcm_upscale(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                       callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                       total_upscale: float = 2.0, upscale_method: str = "bislerp",
                       upscale_steps: int | None = None) -> torch.Tensor:
    """LCM that grows the latent while it samples: after each of the first steps the x0 prediction is resized, in
    equal factors up to `total_upscale` (over `upscale_steps` steps, by default about half of them), then re-noised.

    The noise of a step is one CPU draw of the current size from a generator seeded with seed + 1 (ComfyUI draws it
    from torch's unseeded global generator, so no two of its runs agree).
    """
    from nodes.latent.resize import resize

    kwargs, seed = split_args(extra_args)
    generator = torch.Generator(device="cpu").manual_seed((seed or 0) + 1)
    if upscale_steps is None:
        upscale_steps = max(len(sigmas) // 2 + 1, 2)
    else:
        upscale_steps = min(upscale_steps + 1, len(sigmas) + 1)
    factors = np.linspace(1.0, total_upscale, upscale_steps)[1:]
    height, width = x.shape[-2:]
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * x.new_ones([x.shape[0]]), **kwargs)
        report(callback, i, x, sigmas[i], denoised)
        x = denoised
        if i < len(factors):
            x = resize(x, round(width * factors[i]), round(height * factors[i]), upscale_method)
        if sigmas[i + 1] > 0:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            x = x + sigmas[i + 1] * noise
    return x


# In ComfyUI's order (KSampler lists them so).
SAMPLERS: dict[str, Sampler] = {
    "euler": sample_euler,
    "euler_cfg_pp": sample_euler_cfg_pp,
    "euler_ancestral": sample_euler_ancestral,
    "euler_ancestral_cfg_pp": sample_euler_ancestral_cfg_pp,
    "heun": sample_heun,
    "heunpp2": sample_heunpp2,
    "exp_heun_2_x0": sample_exp_heun_2_x0,
    "exp_heun_2_x0_sde": sample_exp_heun_2_x0_sde,
    "dpm_2": sample_dpm_2,
    "dpm_2_ancestral": sample_dpm_2_ancestral,
    "lms": sample_lms,
    "dpm_fast": sample_dpm_fast,
    "dpm_adaptive": sample_dpm_adaptive,
    "dpmpp_2s_ancestral": sample_dpmpp_2s_ancestral,
    "dpmpp_2s_ancestral_cfg_pp": sample_dpmpp_2s_ancestral_cfg_pp,
    "dpmpp_sde": sample_dpmpp_sde,
    "dpmpp_sde_gpu": sample_dpmpp_sde_gpu,
    "dpmpp_2m": sample_dpmpp_2m,
    "dpmpp_2m_cfg_pp": sample_dpmpp_2m_cfg_pp,
    "dpmpp_2m_sde": sample_dpmpp_2m_sde,
    "dpmpp_2m_sde_gpu": sample_dpmpp_2m_sde_gpu,
    "dpmpp_2m_sde_heun": sample_dpmpp_2m_sde_heun,
    "dpmpp_2m_sde_heun_gpu": sample_dpmpp_2m_sde_heun_gpu,
    "dpmpp_3m_sde": sample_dpmpp_3m_sde,
    "dpmpp_3m_sde_gpu": sample_dpmpp_3m_sde_gpu,
    "ddpm": sample_ddpm,
    "lcm": sample_lcm,
    "ipndm": sample_ipndm,
    "ipndm_v": sample_ipndm_v,
    "deis": sample_deis,
    "res_multistep": sample_res_multistep,
    "res_multistep_cfg_pp": sample_res_multistep_cfg_pp,
    "res_multistep_ancestral": sample_res_multistep_ancestral,
    "res_multistep_ancestral_cfg_pp": sample_res_multistep_ancestral_cfg_pp,
    "gradient_estimation": sample_gradient_estimation,
    "gradient_estimation_cfg_pp": sample_gradient_estimation_cfg_pp,
    "er_sde": sample_er_sde,
    "seeds_2": sample_seeds_2,
    "seeds_3": sample_seeds_3,
    "sa_solver": sample_sa_solver,
    "sa_solver_pece": sample_sa_solver_pece,
    "ddim": sample_ddim,
    "uni_pc": sample_uni_pc,
    "uni_pc_bh2": sample_uni_pc_bh2,
}
