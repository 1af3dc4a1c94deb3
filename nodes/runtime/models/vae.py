"""VAE: pixels <-> LATENT samples with a diffusers AutoencoderKL, in ComfyUI's conventions.

IMAGE is [B, H, W, C] in 0..1 on the CPU; LATENT samples are the encoder's unscaled latents (the model's scale factor
is applied by the sampler). Encoding takes the posterior's mean, so the same image always gives the same latent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from graph_engine import InvalidNodeInput

from ..devices import model_manager
from .interrupts import make_vae_interruptible
from .vae_attention import AttentionChooser


@dataclass(eq=False)
class Vae:
    """What flows on a VAE wire."""

    module: Any  # diffusers AutoencoderKL
    source: str
    attention: AttentionChooser = field(default_factory=AttentionChooser, repr=False)

    @property
    def downscale(self) -> int:
        """Pixels per latent pixel: 8 for every Stable Diffusion VAE (one halving per level after the first)."""
        return 2 ** (len(self.module.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return self.module.config.latent_channels

    @property
    def device(self) -> torch.device:
        return self.module.decoder.conv_in.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.module.decoder.conv_in.weight.dtype

    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        """LATENT samples [B, C, h, w] -> IMAGE [B, h*f, w*f, 3] float32 in 0..1 on the CPU."""
        self._check_latent(samples)
        make_vae_interruptible(self.module)
        model_manager().use(self.module)
        self.attention.install(self.module, samples.shape[-2], samples.shape[-1], samples.shape[0])
        with torch.no_grad():
            pixels = self.module.decode(samples.to(self.device, self.dtype), return_dict=False)[0]
        image = ((pixels.float() + 1.0) / 2.0).clamp(0.0, 1.0)
        return image.movedim(1, -1).cpu()

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """IMAGE [B, H, W, C] -> LATENT samples; the image is centre-cropped to a multiple of the downscale."""
        image = self.crop_to_multiple(image)[..., :3]
        make_vae_interruptible(self.module)
        model_manager().use(self.module)
        height, width = image.shape[1] // self.downscale, image.shape[2] // self.downscale
        self.attention.install(self.module, height, width, image.shape[0])
        pixels = image.movedim(-1, 1).to(self.device, self.dtype) * 2.0 - 1.0
        with torch.no_grad():
            posterior = self.module.encode(pixels, return_dict=False)[0]
        return posterior.mode().float().cpu()

    def crop_to_multiple(self, image: torch.Tensor) -> torch.Tensor:
        """Centre crop of [B, H, W, C] to the largest size the VAE can encode exactly."""
        if image.ndim != 4:
            raise InvalidNodeInput(f"an IMAGE is [batch, height, width, channels]; got shape {tuple(image.shape)}")
        f = self.downscale
        height, width = image.shape[1] // f * f, image.shape[2] // f * f
        if height == 0 or width == 0:
            raise InvalidNodeInput(f"the image is {image.shape[2]}x{image.shape[1]} pixels; the VAE needs at least "
                                   f"{f}x{f}")
        top, left = (image.shape[1] % f) // 2, (image.shape[2] % f) // 2
        return image[:, top:top + height, left:left + width, :]

    def _check_latent(self, samples: torch.Tensor) -> None:
        if samples.ndim != 4 or samples.shape[1] != self.latent_channels:
            raise InvalidNodeInput(f"the VAE of {self.source} decodes latents of {self.latent_channels} channels "
                                   f"[batch, {self.latent_channels}, height, width]; got shape {tuple(samples.shape)}. "
                                   f"Use the VAE of the model that made the latent.")
