"""The noise schedules ComfyUI's ModelSampling* nodes switch a model to: the discrete table rescaled to zero terminal
SNR, the 50-step table of distilled (LCM) models, and continuous EDM and v schedules between two sigmas."""
from __future__ import annotations

import math

import torch

from .schedule import DiscreteSchedule, SigmaTable

ZSNR_LAST_ALPHA_CUMPROD = 4.8973451890853435e-08  # ComfyUI's stand-in for 0 at the last step (a finite sigma)
DISTILLED_STEPS = 50


def zero_terminal_snr(schedule: DiscreteSchedule) -> DiscreteSchedule:
    """The schedule rescaled so that its last step is (almost) pure noise (Lin et al. 2023): sqrt(alphas_cumprod)
    shifted to end at 0 and scaled to keep its first value, in float64."""
    root = schedule.alphas_cumprod.double().sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root = (root - last) * (first / (first - last))
    alphas_cumprod = root ** 2
    alphas_cumprod[-1] = ZSNR_LAST_ALPHA_CUMPROD
    return DiscreteSchedule(alphas_cumprod)


class DistilledSchedule(DiscreteSchedule):
    """Every 20th step of a 1000-step table (19, 39, ..., 999): the timesteps LCM models were distilled on."""

    def __init__(self, full: DiscreteSchedule, steps: int = DISTILLED_STEPS) -> None:
        self.full_timesteps = full.num_timesteps
        self.skip = full.num_timesteps // steps
        picked = torch.arange(steps) * self.skip + (self.skip - 1)
        self.alphas_cumprod = full.alphas_cumprod[picked]
        self.sigmas = full.sigmas[picked]
        self.log_sigmas = self.sigmas.log()

    @property
    def num_timesteps(self) -> int:
        return self.full_timesteps

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        dists = sigma.log() - self.log_sigmas_on(sigma.device)[:, None]
        index = dists.abs().argmin(dim=0).view(sigma.shape)
        return index * self.skip + (self.skip - 1)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        t = (timestep.float().to(self.log_sigmas.device) - (self.skip - 1)) / self.skip
        t = torch.clamp(t, min=0, max=len(self.sigmas) - 1)
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp().to(timestep.device)


class ContinuousEDMSchedule(SigmaTable):
    """Log-uniform sigmas between sigma_min and sigma_max; the UNet's timestep is log(sigma) / 4 (Karras et al.)."""

    def __init__(self, sigma_min: float, sigma_max: float, points: int = 1000) -> None:
        self.sigmas = torch.linspace(math.log(sigma_min), math.log(sigma_max), points).exp()
        self.log_sigmas = self.sigmas.log()

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return 0.25 * sigma.log()

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        return (timestep / 0.25).exp()

    def percent_to_sigma(self, percent: float) -> float:
        """Log-linear between sigma_max (0) and sigma_min (1)."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        low, high = math.log(self.sigma_min), math.log(self.sigma_max)
        return math.exp((high - low) * (1.0 - percent) + low)


class ContinuousVSchedule(ContinuousEDMSchedule):
    """The EDM sigmas with the timestep of continuous v models: atan(sigma) * 2 / pi in 0..1."""

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma.atan() / math.pi * 2

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        return (timestep * math.pi / 2).tan()


class CosmosRectifiedFlowSchedule(ContinuousEDMSchedule):
    """The EDM sigmas with Cosmos' timestep t = sigma / (sigma + 1)."""

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma / (sigma + 1)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        limit = self.sigma_max
        return torch.where(timestep >= limit / (limit + 1), limit, timestep / (1 - timestep))
