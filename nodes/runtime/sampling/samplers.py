"""Samplers by ComfyUI name: one short function each, same signature, maths in k-diffusion form.

`model(x, sigma, **extra_args)` is a denoiser returning x0 for a batch of sigmas; x is the latent in
k-diffusion units (x = x0 + sigma * eps). `sigmas` descend and usually end in 0. `extra_args["seed"]`
(the KSampler seed) picks the per-step noise as ComfyUI does and is not passed on to the model.
`callback` is the one progress hook: called once per step with {"i", "x", "sigma", "denoised"}.

CFG++ samplers (`*_cfg_pp`, Chung et al. 2024) also need the negative prompt's own x0 prediction: they pass the
model an `uncond_sink` dict, which a guiding denoiser fills under "uncond"; a model that leaves it empty is taken to
have no separate negative (its guided prediction stands in, and CFG++ becomes the plain sampler).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from .noise import NoiseSampler, ancestral_noise_sampler, brownian_noise_sampler
from .uni_pc import sample_uni_pc, sample_uni_pc_bh2

Denoise = Callable[..., torch.Tensor]
Callback = Callable[[dict[str, Any]], None]
Sampler = Callable[..., torch.Tensor]


def _split(extra_args: dict[str, Any] | None) -> tuple[dict[str, Any], int | None]:
    kwargs = dict(extra_args or {})
    return kwargs, kwargs.pop("seed", None)


def _report(callback: Callback | None, i: int, x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> None:
    if callback is not None:
        callback({"i": i, "x": x, "sigma": sigma, "denoised": denoised})


def _with_uncond_sink(extra_args: dict | None) -> tuple[dict[str, Any], int | None, Callable[[torch.Tensor], torch.Tensor]]:
    """kwargs carrying an `uncond_sink`, the seed, and a reader of the last negative x0 prediction (see the top)."""
    kwargs, seed = _split(extra_args)
    sink: dict[str, torch.Tensor] = {}
    kwargs["uncond_sink"] = sink
    return kwargs, seed, lambda denoised: sink.pop("uncond", denoised)


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """dx/dsigma of the probability-flow ODE (Karras et al. 2022, eq. 3 with D as the denoiser)."""
    return (x - denoised) / sigma


def ancestral_step(sigma_from: torch.Tensor, sigma_to: torch.Tensor,
                   eta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor | float]:
    """Split a step into a deterministic part down to sigma_down and fresh noise of std sigma_up."""
    if not eta:
        return sigma_to, 0.0
    sigma_up = min(sigma_to, eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
    sigma_down = (sigma_to ** 2 - sigma_up ** 2) ** 0.5
    return sigma_down, sigma_up


@torch.no_grad()
def sample_euler(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                 callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Euler steps on the probability-flow ODE (Karras et al. 2022, Algorithm 2 without churn)."""
    kwargs, _ = _split(extra_args)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        _report(callback, i, x, sigmas[i], denoised)
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
    kwargs, seed = _split(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        _report(callback, i, x, sigmas[i], denoised)
        if sigma_down == 0:
            x = denoised
        else:
            x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_euler_ancestral_cfg_pp(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                                  callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                                  eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """Ancestral Euler with CFG++: from the guided x0, re-noised along the negative prediction's noise direction
    down to sigma_down, then fresh noise up to sigma_next."""
    kwargs, seed, uncond_of = _with_uncond_sink(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        uncond = uncond_of(denoised)
        _report(callback, i, x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        x = denoised + sigma_down * to_d(x, sigmas[i], uncond)
        if eta > 0 and s_noise > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def sample_euler_cfg_pp(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                        callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Euler with CFG++ (no noise)."""
    return sample_euler_ancestral_cfg_pp(model, x, sigmas, extra_args, callback, None, eta=0.0, s_noise=0.0)


@torch.no_grad()
def sample_heun(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Heun's second-order method (Karras et al. 2022, Algorithm 2 without churn); Euler into sigma = 0."""
    kwargs, _ = _split(extra_args)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        _report(callback, i, x, sigmas[i], denoised)
        d, dt = to_d(x, sigmas[i], denoised), sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, sigmas[i + 1], model(x_2, sigmas[i + 1] * s_in, **kwargs))
            x = x + (d + d_2) / 2 * dt
    return x


@torch.no_grad()
def sample_heunpp2(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                   callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Heun++ (from the sd-webui-samplers-scheduler extension): Euler probes to the next one or two sigmas, the step
    taken with their slopes weighted by sigma / (k * sigmas[0]) (k = number of slopes); Heun near the end, Euler last."""
    kwargs, _ = _split(extra_args)
    s_in = x.new_ones([x.shape[0]])
    end = sigmas[-1]
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        _report(callback, i, x, sigmas[i], denoised)
        d, dt = to_d(x, sigmas[i], denoised), sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == end:
            x = x + d * dt
            continue
        x_2 = x + d * dt
        d_2 = to_d(x_2, sigmas[i + 1], model(x_2, sigmas[i + 1] * s_in, **kwargs))
        if sigmas[i + 2] == end:
            w_2 = sigmas[i + 1] / (2 * sigmas[0])
            x = x + (d * (1 - w_2) + d_2 * w_2) * dt
        else:
            x_3 = x_2 + d_2 * (sigmas[i + 2] - sigmas[i + 1])
            d_3 = to_d(x_3, sigmas[i + 2], model(x_3, sigmas[i + 2] * s_in, **kwargs))
            w_2, w_3 = sigmas[i + 1] / (3 * sigmas[0]), sigmas[i + 2] / (3 * sigmas[0])
            x = x + ((1 - w_2 - w_3) * d + w_2 * d_2 + w_3 * d_3) * dt
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
    kwargs, _ = _split(extra_args)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        _report(callback, i, x, sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigmas[i])
        else:
            x = _dpm_2_step(model, x, sigmas[i], sigmas[i + 1], d, s_in, kwargs)
    return x


@torch.no_grad()
def sample_dpm_2_ancestral(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                           callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                           eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """`dpm_2` down to sigma_down, then fresh noise up to sigma_next."""
    kwargs, seed = _split(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        _report(callback, i, x, sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        if sigma_down == 0:
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
    kwargs, _ = _split(extra_args)
    s_in = x.new_ones([x.shape[0]])
    t = sigmas.detach().cpu().double().numpy()
    ds: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        ds = (ds + [to_d(x, sigmas[i], denoised)])[-order:]
        _report(callback, i, x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
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
    kwargs, seed = _split(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        _report(callback, i, x, sigmas[i], denoised)
        if sigma_down == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            # In lambda = -log(sigma): step half way, re-denoise there, take the full step with that estimate.
            h = sigmas[i].log() - sigma_down.log()
            sigma_s = (sigmas[i].log() - h / 2).exp()
            x_2 = (sigma_s / sigmas[i]) * x - torch.expm1(-h / 2) * denoised
            x = (sigma_down / sigmas[i]) * x - torch.expm1(-h) * model(x_2, sigma_s * s_in, **kwargs)
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_dpmpp_2s_ancestral_cfg_pp(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor,
                                     extra_args: dict | None = None, callback: Callback | None = None,
                                     noise_sampler: NoiseSampler | None = None, eta: float = 1.0,
                                     s_noise: float = 1.0) -> torch.Tensor:
    """`dpmpp_2s_ancestral` with CFG++: each stage moves x by (guided - negative) x0 before the exponential step."""
    kwargs, seed, uncond_of = _with_uncond_sink(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        uncond = uncond_of(denoised)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        _report(callback, i, x, sigmas[i], denoised)
        if sigma_down == 0:
            x = denoised + to_d(x, sigmas[i], uncond) * sigma_down
        else:
            h = sigmas[i].log() - sigma_down.log()
            sigma_s = (sigmas[i].log() - h / 2).exp()
            shifted = x + (denoised - uncond)
            x_2 = (sigma_s / sigmas[i]) * shifted - torch.expm1(-h / 2) * denoised
            denoised_2 = model(x_2, sigma_s * s_in, **kwargs)
            uncond_of(denoised_2)  # the second stage's negative is not used
            x = (sigma_down / sigmas[i]) * shifted - torch.expm1(-h) * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_dpmpp_2m_cfg_pp(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                           callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """DPM-Solver++(2M) with CFG++: the exponential decay applies to the negative prediction, the guided one is
    kept whole, and the multistep correction uses the last negative prediction."""
    kwargs, _, uncond_of = _with_uncond_sink(extra_args)
    s_in = x.new_ones([x.shape[0]])
    old_uncond = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        uncond = uncond_of(denoised)
        _report(callback, i, x, sigmas[i], denoised)
        h = sigmas[i].log() - sigmas[i + 1].log()
        mix = -torch.exp(-h) * uncond
        if old_uncond is not None and sigmas[i + 1] != 0:
            r = (sigmas[i - 1].log() - sigmas[i].log()) / h
            mix = mix - torch.expm1(-h) * (1 / (2 * r)) * (denoised - old_uncond)
        x = denoised + mix + torch.exp(-h) * x
        old_uncond = uncond
    return x


@torch.no_grad()
def sample_dpmpp_2m(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """DPM-Solver++(2M): two-step multistep data prediction (Lu et al. 2022b, Algorithm 2)."""
    kwargs, _ = _split(extra_args)
    s_in = x.new_ones([x.shape[0]])
    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        _report(callback, i, x, sigmas[i], denoised)
        h = sigmas[i].log() - sigmas[i + 1].log()  # lambda step, lambda = -log(sigma)
        if old_denoised is None or sigmas[i + 1] == 0:
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
    kwargs, seed = _split(extra_args)
    if len(sigmas) <= 1:
        return x
    noise_sampler = noise_sampler or brownian_noise_sampler(x, sigmas, seed, cpu=cpu_tree)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        _report(callback, i, x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
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
                                s_noise: float, order: int, cpu_tree: bool, solver_type: str = "midpoint") -> torch.Tensor:
    """DPM-Solver++(2M/3M) SDE: exponential integrator in lambda with phi_2/phi_3 corrections and SDE noise.

    Order 2 corrects with the last two x0 predictions by the midpoint rule or, for `solver_type` "heun", by phi_2
    (the same correction 3M uses while it has one earlier prediction).
    """
    if solver_type not in ("midpoint", "heun"):
        raise ValueError(f"solver_type must be 'midpoint' or 'heun', not {solver_type!r}")
    kwargs, seed = _split(extra_args)
    if len(sigmas) <= 1:
        return x
    noise_sampler = noise_sampler or brownian_noise_sampler(x, sigmas, seed, cpu=cpu_tree)
    s_in = x.new_ones([x.shape[0]])
    history: list[tuple[torch.Tensor, torch.Tensor]] = []  # (denoised, h) of earlier steps, newest first
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        _report(callback, i, x, sigmas[i], denoised)
        h = None
        if sigmas[i + 1] == 0:
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
def sample_ddpm(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Ho et al. (2020)'s ancestral step p(x_prev | x_t) between any two sigmas, taken in variance-preserving units.

    With abar = 1 / (1 + sigma^2) and a = abar_t / abar_prev: mean (x - (1 - a) eps / sqrt(1 - abar_t)) / sqrt(a),
    variance (1 - a)(1 - abar_prev) / (1 - abar_t); no noise on the step into sigma = 0.
    """
    kwargs, seed = _split(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        sigma, sigma_prev = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in, **kwargs)
        _report(callback, i, x, sigma, denoised)
        abar, abar_prev = 1 / (sigma ** 2 + 1), 1 / (sigma_prev ** 2 + 1)
        a = abar / abar_prev
        eps = (x - denoised) / sigma
        x = (1.0 / a).sqrt() * (x / torch.sqrt(1.0 + sigma ** 2) - (1 - a) * eps / (1 - abar).sqrt())
        if sigma_prev > 0:
            x = x + ((1 - a) * (1 - abar_prev) / (1 - abar)).sqrt() * noise_sampler(sigma, sigma_prev)
            x = x * torch.sqrt(1.0 + sigma_prev ** 2)
    return x


# Adams-Bashforth weights for equal steps, newest slope first (orders 1 to 4).
ADAMS_BASHFORTH = ((1.0,), (3 / 2, -1 / 2), (23 / 12, -16 / 12, 5 / 12), (55 / 24, -59 / 24, 37 / 24, -9 / 24))


@torch.no_grad()
def sample_ipndm(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                 callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                 max_order: int = 4) -> torch.Tensor:
    """Improved PNDM (Zhang & Chen 2022, DEIS paper): Adams-Bashforth in sigma with equal-step weights, the order
    growing to `max_order` with the history; the step into sigma = 0 returns the x0 prediction."""
    kwargs, _ = _split(extra_args)
    s_in = x.new_ones([x.shape[0]])
    slopes: list[torch.Tensor] = []  # newest first
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        _report(callback, i, x, sigmas[i], denoised)
        slopes = [to_d(x, sigmas[i], denoised)] + slopes[:max_order - 1]
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            weights = ADAMS_BASHFORTH[len(slopes) - 1]
            x = x + (sigmas[i + 1] - sigmas[i]) * sum(w * d for w, d in zip(weights, slopes))
    return x


def _res_multistep(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None,
                   callback: Callback | None, noise_sampler: NoiseSampler | None, eta: float,
                   s_noise: float, cfg_pp: bool = False) -> torch.Tensor:
    """RES second-order multistep (Zhang et al. 2023, arXiv:2308.02157) in lambda = -log(sigma): exponential
    integrator with phi_1/phi_2 weights on this and the last x0 prediction, down to sigma_down; ancestral noise on top.
    With CFG++ the negative prediction drives the step and x is first moved by (guided - negative)."""
    kwargs, seed, uncond_of = _with_uncond_sink(extra_args) if cfg_pp else (*_split(extra_args), None)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    old_denoised, old_sigma_down = None, None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        driving = uncond_of(denoised) if cfg_pp else denoised
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        _report(callback, i, x, sigmas[i], denoised)
        if sigma_down == 0 or old_denoised is None:
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
        if sigma_up > 0:
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
    kwargs, _, uncond_of = _with_uncond_sink(extra_args) if cfg_pp else (*_split(extra_args), None)
    s_in = x.new_ones([x.shape[0]])
    old_d = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        d = to_d(x, sigmas[i], uncond_of(denoised) if cfg_pp else denoised)
        _report(callback, i, x, sigmas[i], denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
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


@torch.no_grad()
def sample_lcm(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
               callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Latent Consistency Model multistep sampling (Luo et al. 2023): jump to x0, re-noise to sigma_next."""
    kwargs, seed = _split(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        _report(callback, i, x, sigmas[i], denoised)
        x = denoised
        if sigmas[i + 1] > 0:
            x = x + sigmas[i + 1] * noise_sampler(sigmas[i], sigmas[i + 1])
    return x


# In ComfyUI's order (KSampler lists them so).
SAMPLERS: dict[str, Sampler] = {
    "euler": sample_euler,
    "euler_cfg_pp": sample_euler_cfg_pp,
    "euler_ancestral": sample_euler_ancestral,
    "euler_ancestral_cfg_pp": sample_euler_ancestral_cfg_pp,
    "heun": sample_heun,
    "heunpp2": sample_heunpp2,
    "dpm_2": sample_dpm_2,
    "dpm_2_ancestral": sample_dpm_2_ancestral,
    "lms": sample_lms,
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
    "res_multistep": sample_res_multistep,
    "res_multistep_cfg_pp": sample_res_multistep_cfg_pp,
    "res_multistep_ancestral": sample_res_multistep_ancestral,
    "res_multistep_ancestral_cfg_pp": sample_res_multistep_ancestral_cfg_pp,
    "gradient_estimation": sample_gradient_estimation,
    "gradient_estimation_cfg_pp": sample_gradient_estimation_cfg_pp,
    "ddim": sample_ddim,
    "uni_pc": sample_uni_pc,
    "uni_pc_bh2": sample_uni_pc_bh2,
}
