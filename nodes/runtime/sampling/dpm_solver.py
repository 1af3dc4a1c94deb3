"""DPM-Solver's single-step solvers (Lu et al. 2022, arXiv:2206.00927): `dpm_fast` with fixed steps and
`dpm_adaptive`, which picks its own steps with an embedded error estimate and a PID step-size controller.

Both work in t = -log(sigma) on the noise prediction eps = (x - D) / sigma, ignore the sampler's own sigma
schedule except for its ends, and (as ComfyUI does) stop at the smallest non-zero sigma instead of going to 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .noise import NoiseSampler, ancestral_noise_sampler
from .sampler_basics import Callback, Denoise, ancestral_step, report, split_args


class _Stages:
    """The model's eps at the stages of one DPM-Solver step from (x, t), each evaluated once: the stages of the
    lower- and higher-order solutions of an adaptive step are shared."""

    def __init__(self, model: Denoise, kwargs: dict, x: torch.Tensor, t: torch.Tensor) -> None:
        self.model, self.kwargs, self.x, self.t = model, kwargs, x, t
        self.s_in = x.new_ones([x.shape[0]])
        self.cache: dict[float, torch.Tensor] = {}
        self.denoised = model(x, _sigma(t) * self.s_in, **kwargs)
        self.eps = (x - self.denoised) / _sigma(t)

    def eps_at(self, key: float, u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if key not in self.cache:
            self.cache[key] = (u - self.model(u, _sigma(t) * self.s_in, **self.kwargs)) / _sigma(t)
        return self.cache[key]


def _sigma(t: torch.Tensor) -> torch.Tensor:
    return (-t).exp()


def first_order_step(stages: _Stages, t_next: torch.Tensor) -> torch.Tensor:
    """DPM-Solver-1 (DDIM): x_next = x - sigma_next (e^h - 1) eps."""
    return stages.x - _sigma(t_next) * torch.expm1(t_next - stages.t) * stages.eps


def second_order_step(stages: _Stages, t_next: torch.Tensor, r1: float = 0.5) -> torch.Tensor:
    """DPM-Solver-2: one extra eps at t + r1 h, the step corrected by its difference from eps."""
    h = t_next - stages.t
    s1 = stages.t + r1 * h
    u1 = stages.x - _sigma(s1) * torch.expm1(r1 * h) * stages.eps
    eps_1 = stages.eps_at(r1, u1, s1)
    return first_order_step(stages, t_next) - _sigma(t_next) / (2 * r1) * torch.expm1(h) * (eps_1 - stages.eps)


def third_order_step(stages: _Stages, t_next: torch.Tensor, r1: float = 1 / 3, r2: float = 2 / 3) -> torch.Tensor:
    """DPM-Solver-3: eps at t + r1 h and at t + r2 h (the latter from a second-order guess)."""
    h = t_next - stages.t
    s1, s2 = stages.t + r1 * h, stages.t + r2 * h
    u1 = stages.x - _sigma(s1) * torch.expm1(r1 * h) * stages.eps
    eps_1 = stages.eps_at(r1, u1, s1)
    phi_r2 = torch.expm1(r2 * h) / (r2 * h) - 1
    u2 = (stages.x - _sigma(s2) * torch.expm1(r2 * h) * stages.eps
          - _sigma(s2) * (r2 / r1) * phi_r2 * (eps_1 - stages.eps))
    eps_2 = stages.eps_at(r2, u2, s2)
    phi = torch.expm1(h) / h - 1
    return first_order_step(stages, t_next) - _sigma(t_next) / r2 * phi * (eps_2 - stages.eps)


def _end_sigmas(sigmas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First sigma and the last non-zero one, where ComfyUI runs DPM-Solver between."""
    sigma_min = sigmas[-2] if sigmas[-1] == 0 else sigmas[-1]
    return sigmas[0], sigma_min


def _ancestral_target(t: torch.Tensor, t_next: torch.Tensor, t_end: torch.Tensor,
                      eta: float) -> tuple[torch.Tensor, torch.Tensor | float]:
    """With eta > 0: where the deterministic part of a step goes (not past t_end), and the noise that then brings the
    latent back up to sigma(t_next)."""
    if not eta:
        return t_next, 0.0
    sigma_down, _ = ancestral_step(_sigma(t), _sigma(t_next), eta)
    t_down = torch.minimum(t_end, -sigma_down.log())
    return t_down, (_sigma(t_next) ** 2 - _sigma(t_down) ** 2) ** 0.5


def fast_orders(nfe: int) -> list[int]:
    """DPM-Solver-fast's step orders for a budget of `nfe` model calls: third-order steps, the remainder last."""
    steps = nfe // 3 + 1
    if nfe % 3 == 0:
        return [3] * (steps - 2) + [2, 1]
    return [3] * (steps - 1) + [nfe % 3]


@torch.no_grad()
def sample_dpm_fast(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                    eta: float = 0.0, s_noise: float = 1.0) -> torch.Tensor:
    """DPM-Solver-fast: as many model calls as the schedule has steps, spent on steps evenly spaced in log sigma."""
    if len(sigmas) <= 1:
        return x
    kwargs, seed = split_args(extra_args)
    sigma_max, sigma_min = _end_sigmas(sigmas)
    t_start, t_end = -sigma_max.log(), -sigma_min.log()
    if eta and t_end < t_start:
        raise ValueError("dpm_fast: eta must be 0 when sampling towards higher noise")
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    orders = fast_orders(len(sigmas) - 1)
    ts = torch.linspace(float(t_start), float(t_end), len(orders) + 1, device=x.device)
    step = {1: first_order_step, 2: second_order_step, 3: third_order_step}
    for i, order in enumerate(orders):
        t, t_next = ts[i], ts[i + 1]
        t_down, sigma_up = _ancestral_target(t, t_next, t_end, eta)
        stages = _Stages(model, kwargs, x, t)
        report(callback, i, x, _sigma(t), stages.denoised)
        x = step[order](stages, t_down)
        if sigma_up:
            x = x + sigma_up * s_noise * noise_sampler(_sigma(t), _sigma(t_next))
    return x


@dataclass
class PIDStepSizeController:
    """Step size from the history of scaled errors (Söderlind 2003's PID control, as k-diffusion uses it).

    An error of 1 means the step was exactly within tolerance. The new step is h times a factor from the inverse
    errors of the last three accepted steps (exponents from the P, I, D gains over the method's order), softened by
    1 + atan(factor - 1); a step is accepted when that factor reaches `accept_safety`.
    """

    h: float
    pcoeff: float
    icoeff: float
    dcoeff: float
    order: float = 1.0
    accept_safety: float = 0.81
    eps: float = 1e-8
    inverse_errors: list[float] = field(default_factory=list)

    def propose_step(self, error: float) -> bool:
        """Scale h for the next try; True when the step just measured is accepted."""
        inverse = 1 / (float(error) + self.eps)
        if not self.inverse_errors:
            self.inverse_errors = [inverse] * 3
        self.inverse_errors[0] = inverse
        b1 = (self.pcoeff + self.icoeff + self.dcoeff) / self.order
        b2 = -(self.pcoeff + 2 * self.dcoeff) / self.order
        b3 = self.dcoeff / self.order
        e0, e1, e2 = self.inverse_errors
        factor = 1 + math.atan(e0 ** b1 * e1 ** b2 * e2 ** b3 - 1)
        accepted = factor >= self.accept_safety
        if accepted:
            self.inverse_errors = [e0, e0, e1]
        self.h *= factor
        return accepted


ACCEPT_SAFETY_LIMIT = 1 + math.pi / 2  # the largest factor the controller can give: a higher bar accepts nothing


@torch.no_grad()
def sample_dpm_adaptive(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                        callback: Callback | None = None, noise_sampler: NoiseSampler | None = None, order: int = 3,
                        rtol: float = 0.05, atol: float = 0.0078, h_init: float = 0.05, pcoeff: float = 0.0,
                        icoeff: float = 1.0, dcoeff: float = 0.0, accept_safety: float = 0.81, eta: float = 0.0,
                        s_noise: float = 1.0) -> torch.Tensor:
    """DPM-Solver-12 (order 2) or -23 (order 3): each try takes a step of both orders from the same stages; their
    difference, scaled by atol + rtol * |x| per element, is the error the PID controller steers to 1.

    The callback hears every try, accepted or not; `i` counts tries.
    """
    if order not in (2, 3):
        raise ValueError(f"dpm_adaptive: order must be 2 or 3, not {order}")
    if not h_init > 0 or not (atol > 0 or rtol > 0) or not accept_safety < ACCEPT_SAFETY_LIMIT:
        raise ValueError("dpm_adaptive needs h_init > 0, atol or rtol > 0 and accept_safety below "
                         f"{ACCEPT_SAFETY_LIMIT:.3f}, or it never finishes")
    if len(sigmas) <= 1:
        return x
    kwargs, seed = split_args(extra_args)
    sigma_max, sigma_min = _end_sigmas(sigmas)
    t_start, t_end = -sigma_max.log(), -sigma_min.log()
    forward = bool(t_end >= t_start)
    if eta and not forward:
        raise ValueError("dpm_adaptive: eta must be 0 when sampling towards higher noise")
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    pid = PIDStepSizeController(h_init if forward else -h_init, pcoeff, icoeff, dcoeff, 1.5 if eta else order,
                                accept_safety)
    atol_t, rtol_t = torch.tensor(atol, device=x.device), torch.tensor(rtol, device=x.device)
    s, x_prev, tries, stages = t_start, x, 0, None
    while (s < t_end - 1e-5) if forward else (s > t_end + 1e-5):
        t = torch.minimum(t_end, s + pid.h) if forward else torch.maximum(t_end, s + pid.h)
        t_down, sigma_up = _ancestral_target(s, t, t_end, eta)
        if stages is None:  # a rejected try is retried from the same point: its first eps stands
            stages = _Stages(model, kwargs, x, s)
        else:
            stages.cache.clear()
        if order == 2:
            x_low, x_high = first_order_step(stages, t_down), second_order_step(stages, t_down)
        else:
            x_low, x_high = second_order_step(stages, t_down, r1=1 / 3), third_order_step(stages, t_down)
        scale = torch.maximum(atol_t, rtol_t * torch.maximum(x_low.abs(), x_prev.abs()))
        error = torch.linalg.norm((x_low - x_high) / scale) / x.numel() ** 0.5
        denoised = stages.denoised
        if pid.propose_step(float(error)):
            x = x_high
            if sigma_up:
                x = x + sigma_up * s_noise * noise_sampler(_sigma(s), _sigma(t))
            x_prev, s, stages = x_low, t, None
        report(callback, tries, x, _sigma(s), denoised)
        tries += 1
    return x
