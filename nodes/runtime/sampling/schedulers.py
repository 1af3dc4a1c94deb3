"""Sigma schedules by ComfyUI scheduler name: each returns descending sigmas that end in 0.

Most give steps + 1 values; ComfyUI's `ddim_uniform` and `beta` can give a different count (kept on
purpose, since a workflow's image depends on it). `ksampler_sigmas` adds KSampler's rules on top:
the extra step some samplers drop, and `denoise`.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch

from .schedule import DiscreteSchedule

Scheduler = Callable[[DiscreteSchedule, int], torch.Tensor]

# KSampler asks these samplers' schedulers for one step more and drops the last non-zero sigma.
DISCARD_PENULTIMATE_SIGMA = frozenset({"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"})


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. (2022), eq. 5: evenly spaced in sigma^(1/rho)."""
    ramp = torch.linspace(0, 1, n)
    min_inv_rho, max_inv_rho = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def exponential_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Evenly spaced in log sigma."""
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp())


def polyexponential_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    """Log sigma falling along a power ramp: rho = 1 is `exponential_sigmas`, larger rho lingers at high noise."""
    ramp = torch.linspace(1, 0, n) ** rho
    return _append_zero(torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def vp_sigmas(n: int, beta_d: float = 19.9, beta_min: float = 0.1, eps_s: float = 1e-3) -> torch.Tensor:
    """The continuous variance-preserving SDE's sigmas (Song et al. 2021) at t evenly spaced from 1 to eps_s."""
    t = torch.linspace(1, eps_s, n)
    return _append_zero(torch.sqrt(torch.special.expm1(beta_d * t ** 2 / 2 + beta_min * t)))


def laplace_sigmas(n: int, sigma_min: float, sigma_max: float, mu: float = 0.0, beta: float = 0.5) -> torch.Tensor:
    """Log sigma at the quantiles of a Laplace(mu, beta) distribution (Tiankai et al. 2024), clamped to the range.

    No trailing zero is added: ComfyUI's schedule ends at sigma_min.
    """
    x = torch.linspace(0, 1, n)
    log_sigma = mu - beta * torch.sign(0.5 - x) * torch.log(1 - 2 * torch.abs(0.5 - x) + 1e-5)
    return torch.clamp(torch.exp(log_sigma), min=sigma_min, max=sigma_max)


def kl_optimal_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Evenly spaced in arctan(sigma), the KL-optimal schedule of Sabour et al. (2024, "Align Your Steps" appendix).

    One step starts at sigma_max (ComfyUI divides 0 by 0 there and samples from NaN).
    """
    w = torch.arange(n, dtype=torch.float32) / max(n - 1, 1)
    return _append_zero((w * math.atan(sigma_min) + (1 - w) * math.atan(sigma_max)).tan())


def loglinear_sigmas(levels: Sequence[float], steps: int, denoise: float = 1.0) -> torch.Tensor:
    """A published table of noise levels stretched to `steps` (log sigma interpolated linearly over an even grid),
    its last `round(steps * denoise)` steps kept and the final sigma set to 0 (AYS, OptimalSteps, GITS)."""
    if denoise <= 0.0:
        return torch.zeros([0])
    kept = round(steps * denoise) if denoise < 1.0 else steps
    values = np.asarray(levels, dtype=np.float64)
    if steps + 1 != len(values):
        grid = np.linspace(0, 1, len(values))
        values = np.exp(np.interp(np.linspace(0, 1, steps + 1), grid, np.log(values[::-1])))[::-1]
    values = values[-(kept + 1):].copy()
    values[-1] = 0
    return torch.tensor(values, dtype=torch.float32)


def sigmas_karras(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """`karras`: Karras et al. (2022) between the model's smallest and largest sigma."""
    return karras_sigmas(steps, float(schedule.sigma_min), float(schedule.sigma_max))


def sigmas_exponential(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """`exponential`: log-uniform between the model's smallest and largest sigma."""
    return exponential_sigmas(steps, float(schedule.sigma_min), float(schedule.sigma_max))


def _uniform_timesteps(schedule: DiscreteSchedule, steps: int, sgm: bool) -> torch.Tensor:
    start, end = schedule.timestep(schedule.sigma_max), schedule.timestep(schedule.sigma_min)
    ends_at_zero = not sgm and math.isclose(float(schedule.sigma(end)), 0, abs_tol=1e-5)  # zero-SNR tables
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        timesteps = torch.linspace(start, end, steps + 1 if ends_at_zero else steps)
    # ComfyUI asks for each timestep's sigma alone; every operation of sigma() works element by element, so one call
    # for all of them gives the same float32 values without a dozen tensor operations per step
    sigmas = schedule.sigma(timesteps).to(torch.float32)
    return sigmas if ends_at_zero else _append_zero(sigmas)


def sigmas_normal(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """`normal`: timesteps evenly spaced from the last to the first, both included (log-sigma interpolated)."""
    return _uniform_timesteps(schedule, steps, sgm=False)


def sigmas_sgm_uniform(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """`sgm_uniform`: like `normal` but the first timestep is left out, as Stability's sgm code does."""
    return _uniform_timesteps(schedule, steps, sgm=True)


def sigmas_simple(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """`simple`: every (len / steps)-th training sigma from the top, index rounded down."""
    stride = schedule.num_timesteps / steps
    sigmas = [float(schedule.sigmas[-(1 + int(i * stride))]) for i in range(steps)]
    return _append_zero(torch.tensor(sigmas, dtype=torch.float32))


def sigmas_ddim_uniform(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """`ddim_uniform`: DDIM's training steps 1, 1 + k, 1 + 2k, ... with k = len // steps (Song et al. 2020).

    When k does not divide the table the count comes out above `steps`, as in ComfyUI.
    """
    ends_at_zero = math.isclose(float(schedule.sigmas[1]), 0, abs_tol=1e-5)  # zero-SNR tables
    stride = max(schedule.num_timesteps // (steps + 1 if ends_at_zero else steps), 1)
    picked = [float(s) for s in schedule.sigmas[1::stride]]
    return torch.tensor(([] if ends_at_zero else [0.0]) + picked, dtype=torch.float32).flip(0)


def sigmas_beta(schedule: DiscreteSchedule, steps: int, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """`beta`: timesteps at quantiles of a Beta(0.6, 0.6) distribution (Lee et al. 2024, arXiv:2407.12173).

    Quantiles that round to the same timestep as the one before are merged, so fewer steps can result.
    """
    from scipy import stats  # only this scheduler needs scipy

    last = schedule.num_timesteps - 1
    timesteps = np.rint(stats.beta.ppf(1 - np.linspace(0, 1, steps, endpoint=False), alpha, beta) * last)
    kept = [t for i, t in enumerate(timesteps) if i == 0 or t != timesteps[i - 1]]
    sigmas = [float(schedule.sigmas[int(t)]) for t in kept]
    return _append_zero(torch.tensor(sigmas, dtype=torch.float32))


def sigmas_linear_quadratic(schedule: DiscreteSchedule, steps: int, threshold: float = 0.025) -> torch.Tensor:
    """`linear_quadratic`: 1 - s of sigma_max with s linear up to `threshold` over the first half of the steps,
    then quadratic up to 1 (the schedule Mochi was trained with)."""
    if steps == 1:
        fractions = [1.0, 0.0]
    else:
        linear_steps = steps // 2
        quadratic_steps = steps - linear_steps
        step_diff = linear_steps - threshold * steps
        quadratic_coef = step_diff / (linear_steps * quadratic_steps ** 2)
        linear_coef = threshold / linear_steps - 2 * step_diff / quadratic_steps ** 2
        const = quadratic_coef * linear_steps ** 2
        rising = ([i * threshold / linear_steps for i in range(linear_steps)]
                  + [quadratic_coef * i ** 2 + linear_coef * i + const for i in range(linear_steps, steps)] + [1.0])
        fractions = [1.0 - v for v in rising]
    return torch.tensor(fractions, dtype=torch.float32) * float(schedule.sigma_max)


def sigmas_kl_optimal(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """`kl_optimal`: evenly spaced in arctan(sigma) between the model's largest and smallest sigma."""
    return kl_optimal_sigmas(steps, float(schedule.sigma_min), float(schedule.sigma_max))


def turbo_sigmas(schedule: DiscreteSchedule, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """SD Turbo's schedule: training steps 999, 899, ..., 99; denoise < 1 skips the first 10 * (1 - denoise)."""
    start = 10 - int(10 * denoise)
    timesteps = (torch.arange(10, 0, -1) * 100 - 1)[start:start + steps]
    return _append_zero(schedule.sigma(timesteps))


# In ComfyUI's order: KSampler lists them so, and the first is its default.
SCHEDULERS: dict[str, Scheduler] = {
    "simple": sigmas_simple,
    "sgm_uniform": sigmas_sgm_uniform,
    "karras": sigmas_karras,
    "exponential": sigmas_exponential,
    "ddim_uniform": sigmas_ddim_uniform,
    "beta": sigmas_beta,
    "normal": sigmas_normal,
    "linear_quadratic": sigmas_linear_quadratic,
    "kl_optimal": sigmas_kl_optimal,
}


def ksampler_sigmas(schedule: DiscreteSchedule, scheduler: str, steps: int, denoise: float = 1.0,
                    sampler: str = "") -> torch.Tensor:
    """The sigmas ComfyUI's KSampler runs: `denoise` < 1 keeps the last `steps` steps of int(steps / denoise)."""
    def full(n: int) -> torch.Tensor:
        if sampler in DISCARD_PENULTIMATE_SIGMA:
            sigmas = SCHEDULERS[scheduler](schedule, n + 1)
            return torch.cat([sigmas[:-2], sigmas[-1:]])
        return SCHEDULERS[scheduler](schedule, n)

    if denoise is None or denoise > 0.9999:
        return full(steps)
    if denoise <= 0.0:
        return torch.zeros([0])
    return full(int(steps / denoise))[-(steps + 1):]


def basic_sigmas(schedule: DiscreteSchedule, scheduler: str, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """BasicScheduler's sigmas: like KSampler's, without its per-sampler rule, and `denoise` < 1 taken as is."""
    if denoise < 1.0:
        if denoise <= 0.0:
            return torch.zeros([0])
        return SCHEDULERS[scheduler](schedule, int(steps / denoise))[-(steps + 1):]
    return SCHEDULERS[scheduler](schedule, steps)


def advanced_sigmas(sigmas: torch.Tensor, start_step: int | None = None, last_step: int | None = None,
                    force_full_denoise: bool = False) -> torch.Tensor:
    """KSamplerAdvanced's slice of a schedule; empty when start_step is past the end (the latent is returned)."""
    if last_step is not None and last_step < len(sigmas) - 1:
        sigmas = sigmas[:last_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0
    if start_step is not None:
        if start_step >= len(sigmas) - 1:
            return sigmas[:0]
        sigmas = sigmas[start_step:]
    return sigmas
