"""Per-architecture facts about latents that weights cannot show: the scale the UNet was trained at, and a cheap
latent-to-RGB projection for progress previews.

ComfyUI keeps LATENT samples unscaled (what the VAE encoder gives); the sampler multiplies by the scale factor on
the way in and divides on the way out, so LATENT values can be shared with ComfyUI workflows and plugins.
The preview projection is a fixed 4x3 matrix (plus bias) fitted once per family to map a scaled latent to rough RGB
in -1..1: a per-step preview costs one tiny matrix product instead of a VAE decode.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LatentFormat:
    """Scale factor and preview projection of one model family."""

    scale_factor: float
    rgb_factors: tuple[tuple[float, float, float], ...]  # one (R, G, B) row per latent channel
    rgb_bias: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def to_model(self, samples: torch.Tensor) -> torch.Tensor:
        """LATENT samples -> the units the UNet was trained on."""
        return samples * self.scale_factor

    def from_model(self, latent: torch.Tensor) -> torch.Tensor:
        """The UNet's units -> LATENT samples (what VAEDecode takes)."""
        return latent / self.scale_factor

    def preview_rgb(self, latent: torch.Tensor) -> torch.Tensor:
        """A [H, W, 3] uint8 preview of the first image of a model-space latent [B, C, H, W], in host memory."""
        return self.preview_rgb_on_device(latent).cpu()

    def preview_rgb_on_device(self, latent: torch.Tensor) -> torch.Tensor:
        """preview_rgb left on the latent's device, so that reading it need not wait (step_previews.py)."""
        factors, bias = _projection(self.rgb_factors, self.rgb_bias, latent.device)
        return torch.addmm(bias, latent[0].float().flatten(1).T, factors).clamp_(0, 255).to(torch.uint8).view(
            *latent.shape[-2:], 3)


@functools.lru_cache(maxsize=16)
def _projection(factors: tuple, bias: tuple, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The preview matrix and bias mapping a latent pixel straight to 0..255 ((rgb + 1) * 127.5 folded in), on
    `device`, made once: a copy from host memory each step would wait for the device."""
    return (torch.tensor(factors, dtype=torch.float32, device=device) * 127.5,
            (torch.tensor(bias, dtype=torch.float32, device=device) + 1.0) * 127.5)


SD1_FORMAT = LatentFormat(0.18215, ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350),
                                    (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177)))
SDXL_FORMAT = LatentFormat(0.13025, ((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068),
                                     (0.1076, 0.1111, -0.0362), (-0.3165, -0.2492, -0.2188)),
                           (0.1084, -0.0175, -0.0011))

LATENT_FORMATS = {"SD1.x": SD1_FORMAT, "SD2.x": SD1_FORMAT, "SDXL": SDXL_FORMAT}


def latent_format(architecture: str) -> LatentFormat:
    """The latent format of an architecture name ("SD1.x", "SD2.x", "SDXL")."""
    return LATENT_FORMATS[str(architecture)]


@dataclass(frozen=True)
class StandardizedLatentFormat(LatentFormat):
    """Latents standardised per channel (mean, std) before scaling: Playground v2.5's SDXL latents."""

    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, len(self.mean), 1, 1)
        return (torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(shape),
                torch.tensor(self.std, dtype=like.dtype, device=like.device).view(shape))

    def to_model(self, samples: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(samples)
        return (samples - mean) * self.scale_factor / std

    def from_model(self, latent: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(latent)
        return latent * std / self.scale_factor + mean


PLAYGROUND_V25_FORMAT = StandardizedLatentFormat(
    0.5, ((0.3920, 0.4054, 0.4549), (-0.2634, -0.0196, 0.0653), (0.0568, 0.1687, -0.0755), (-0.3112, -0.2359, -0.2076)),
    mean=(-1.6574, 1.886, -1.383, 2.5155), std=(8.4927, 5.9022, 6.5498, 5.2299))
