"""A small real-torch stand-in for a UNet and diffusers' SD config, shared by the sampling tests."""
from __future__ import annotations

import torch

# diffusers' scheduler config for SD1.x, written out so nothing is fetched.
SD_CONFIG = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}

LATENT_SHAPE = (2, 4, 8, 8)


def _vp_noise_level(t: torch.Tensor) -> torch.Tensor:
    """sqrt(1 - abar_t) of the SD schedule, computed here independently of the code under test."""
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    abar = torch.cumprod(1 - betas, dim=0)
    t = t.double().clamp(0, 999)
    low, high = t.floor().long(), t.ceil().long()
    w = t - low
    return ((1 - abar[low]) * (1 - w) + (1 - abar[high]) * w).sqrt().float()


class ToyUNet(torch.nn.Module):
    """A fixed, smooth, nonlinear stand-in for an eps-predicting UNet, outputs of order 1.

    Its main term is the exact noise prediction for unit-variance Gaussian data, so sampled latents stay
    of order 1 like real ones; a channel-mixing tanh term and a timestep-dependent bias make every
    step's sigma and timestep matter.
    """

    def __init__(self, channels: int = 4, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("mix", 0.7 * torch.eye(channels) + 0.15 * torch.randn(channels, channels, generator=g))
        self.register_buffer("bias", 0.2 * torch.randn(channels, generator=g))
        self.calls: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append(t.detach().clone())
        level = _vp_noise_level(t).reshape(-1, 1, 1, 1)
        tt = t.reshape(-1, 1, 1, 1).float() / 1000.0
        mixed = torch.einsum("ij,bjhw->bihw", self.mix, x)
        wiggle = 0.3 * torch.tanh(mixed) * torch.cos(3.0 * tt) + self.bias.view(1, -1, 1, 1) * torch.sin(5.0 * tt)
        return level * x + wiggle


def comfy_timestep(t: torch.Tensor) -> torch.Tensor:
    """diffusers may feed fractional timesteps; ComfyUI feeds the nearest integer. The reference loops round."""
    return torch.round(torch.as_tensor(t, dtype=torch.float32))
