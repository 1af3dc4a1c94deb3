"""The discrete SD1/SD2 noise schedule and the denoiser D(x, sigma) built on a UNet's eps or v output.

Everything here works in the k-diffusion convention: the latent x carries noise of standard deviation
sigma (x = x0 + sigma * eps), the model sees x / sqrt(sigma^2 + 1), and a denoiser returns x0.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from .parameterization import PREDICTION_PARAMETERIZATIONS, as_model_sampling

PREDICTION_TYPES = tuple(PREDICTION_PARAMETERIZATIONS)

ModelFn = Callable[..., torch.Tensor]


class SigmaTable:
    """A schedule's noise levels, ascending: `sigmas` and `log_sigmas` (float32), its smallest and largest."""

    sigmas: torch.Tensor
    log_sigmas: torch.Tensor

    @property
    def num_timesteps(self) -> int:
        return len(self.sigmas)

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def log_sigmas_on(self, device: torch.device) -> torch.Tensor:
        """`log_sigmas` on `device`, copied once (not each step: a copy between host and device waits for it)."""
        if self.log_sigmas.device == device:
            return self.log_sigmas
        kept = self.__dict__.get("_log_sigmas_copy")
        if kept is None or kept[0] is not self.log_sigmas or kept[1].device != device:
            kept = self.__dict__["_log_sigmas_copy"] = (self.log_sigmas, self.log_sigmas.to(device))
        return kept[1]


class DiscreteSchedule(SigmaTable):
    """The 1000 training noise levels sigma_t = sqrt((1 - abar_t) / abar_t), t = 0..999, as ComfyUI keeps them.

    ComfyUI computes the table in float64 and stores sigmas and log-sigmas in float32; every scheduler
    reads these float32 values, so we keep the same rounding to land on the same sigmas.
    """

    def __init__(self, alphas_cumprod: torch.Tensor) -> None:
        self.alphas_cumprod = alphas_cumprod  # kept (float64 as given) for schedules derived from this one
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.sigmas = sigmas.float()
        self.log_sigmas = sigmas.log().float()

    @classmethod
    def from_betas(cls, betas: torch.Tensor) -> "DiscreteSchedule":
        return cls(torch.cumprod(1.0 - betas.double(), dim=0))

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """The training step whose log-sigma is nearest: ComfyUI feeds the UNet this integer, not a fraction."""
        dists = sigma.log() - self.log_sigmas_on(sigma.device)[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        """Sigma at a possibly fractional timestep, interpolating log-sigma linearly between table entries."""
        t = torch.clamp(timestep.float().to(self.log_sigmas.device), min=0, max=self.num_timesteps - 1)
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]
        return log_sigma.exp().to(timestep.device)

    def percent_to_sigma(self, percent: float) -> float:
        """Sigma at a fraction of the way through sampling (0 = start); what start/end percent inputs mean."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return float(self.sigma(torch.tensor((1.0 - percent) * (self.num_timesteps - 1))))


def sd_schedule(linear_start: float = 0.00085, linear_end: float = 0.012, timesteps: int = 1000) -> DiscreteSchedule:
    """SD1/SD2's schedule: betas linear in sqrt space ("scaled_linear"), computed in float64 like ComfyUI."""
    betas = torch.linspace(linear_start ** 0.5, linear_end ** 0.5, timesteps, dtype=torch.float64) ** 2
    return DiscreteSchedule.from_betas(betas)


class Denoiser:
    """D(x, sigma) = predicted x0, from a model that predicts the noise (epsilon) or v (Salimans & Ho 2022), or as a
    full model sampling (a patched `model_sampling`, parameterization.py) given as `schedule` says.

    `model_fn(x_in, timestep, **kwargs)` is called with x_in = x / sqrt(sigma^2 + 1), the variance-preserving
    latent the UNet was trained on, and the nearest integer training timestep, as ComfyUI does.
    """

    def __init__(self, model_fn: ModelFn, schedule: DiscreteSchedule, prediction_type: str = "epsilon") -> None:
        self.model_fn = model_fn
        self.schedule = schedule
        self.prediction_type = prediction_type
        self.sampling = as_model_sampling(schedule, prediction_type)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        sampling = self.sampling
        out = self.model_fn(sampling.calculate_input(sigma, x), sampling.timestep(sigma).float(), **kwargs).float()
        return sampling.calculate_denoised(sigma, out, x)
