"""Sigma schedules by ComfyUI scheduler name: each returns descending sigmas that end in 0.

Most give steps + 1 values; ComfyUI's `ddim_uniform` and `beta` can give a different count (kept on
purpose, since a workflow's image depends on it). `ksampler_sigmas` adds KSampler's rules on top:
the extra step some samplers drop, and `denoise`.
"""
from __future__ import annotations

import math
from typing import Callable

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
    sigmas = torch.tensor([float(schedule.sigma(t)) for t in timesteps], dtype=torch.float32)
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


SCHEDULERS: dict[str, Scheduler] = {
    "normal": sigmas_normal,
    "karras": sigmas_karras,
    "exponential": sigmas_exponential,
    "sgm_uniform": sigmas_sgm_uniform,
    "simple": sigmas_simple,
    "ddim_uniform": sigmas_ddim_uniform,
    "beta": sigmas_beta,
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
