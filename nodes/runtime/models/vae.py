"""VAE: pixels <-> LATENT samples with our AutoencoderKl (models/autoencoder.py), in ComfyUI's conventions.

IMAGE is [B, H, W, C] in 0..1 on the CPU; LATENT samples are the encoder's unscaled latents (the model's scale factor
is applied by the sampler). Encoding takes the posterior's mean, so the same image always gives the same latent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from graph_engine import InvalidNodeInput

from ..devices import model_manager
from .autoencoder import AutoencoderKl, LatentDistribution
from .interrupts import make_vae_interruptible
from .vae_attention import AttentionChooser
from .vae_layout import LayoutChooser, in_layout, is_channels_last
from .estimates import vae_bytes
from .vae_tiling import blended_tile_passes, whole_or_tiles

# ComfyUI's tiles when a whole image does not fit: 64 latent pixels (overlap 16) to decode, 512 pixels (64) to encode.
FALLBACK_DECODE_TILE = 64
FALLBACK_ENCODE_TILE = 512


@dataclass(eq=False)
class Vae:
    """What flows on a VAE wire."""

    module: AutoencoderKl
    source: str
    attention: AttentionChooser = field(default_factory=AttentionChooser, repr=False)
    layout: LayoutChooser = field(default_factory=LayoutChooser, repr=False)

    @classmethod
    def loaded(cls, module: AutoencoderKl, source: str) -> "Vae":
        """A loaded VAE, timing its choices into (and reading them from) the ones shared on its devices."""
        shared = model_manager().timed_choices
        return cls(module=module, source=source, attention=AttentionChooser(shared["vae attention"]),
                   layout=LayoutChooser(shared["vae layout"]))

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
        """LATENT samples [B, C, h, w] -> IMAGE [B, h*f, w*f, 3] float32 in 0..1 on the CPU; in tiles (as ComfyUI's
        fallback does) when the whole image does not fit in memory."""
        self._check_latent(samples)
        self._prepare()
        batch, _channels, height, width = samples.shape
        pixels = whole_or_tiles(
            lambda: self._decode_tile(samples),
            lambda: self._decode_tiles(samples, FALLBACK_DECODE_TILE, FALLBACK_DECODE_TILE // 4),
            self.device, "decoding", self.whole_image_bytes(batch, height * self.downscale, width * self.downscale))
        return _to_image(pixels)

    def decode_tiled(self, samples: torch.Tensor, tile_x: int | None = None, tile_y: int | None = None,
                     overlap: int | None = None) -> torch.Tensor:
        """As `decode`, in three passes of overlapping tiles of about `tile_x` x `tile_y` latent pixels (64 x 64,
        overlap 16 by default, as ComfyUI), blended."""
        self._check_latent(samples)
        self._prepare()
        tile_x = tile_x or FALLBACK_DECODE_TILE
        return _to_image(self._decode_tiles(samples, (tile_y or tile_x, tile_x),
                                            FALLBACK_DECODE_TILE // 4 if overlap is None else overlap))

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """IMAGE [B, H, W, C] -> LATENT samples; the image is centre-cropped to a multiple of the downscale."""
        pixels = self._model_pixels(image)
        return whole_or_tiles(
            lambda: self._encode_tile(pixels),
            lambda: self._encode_tiles(pixels, FALLBACK_ENCODE_TILE, FALLBACK_ENCODE_TILE // 8),
            self.device, "encoding", self.whole_image_bytes(*pixels.shape[:1], *pixels.shape[-2:]))

    def encode_tiled(self, image: torch.Tensor, tile_x: int | None = None, tile_y: int | None = None,
                     overlap: int | None = None) -> torch.Tensor:
        """As `encode`, in three passes of overlapping tiles of about `tile_x` x `tile_y` pixels (512 x 512, overlap
        64 by default, as ComfyUI), blended."""
        tile_x = tile_x or FALLBACK_ENCODE_TILE
        return self._encode_tiles(self._model_pixels(image), (tile_y or tile_x, tile_x),
                                  FALLBACK_ENCODE_TILE // 8 if overlap is None else overlap)

    def whole_image_bytes(self, batch: int, height: int, width: int) -> int:
        """At least the memory of decoding or encoding images of width x height pixels whole (the validation's estimate
        with this VAE's own width at full resolution)."""
        return vae_bytes(batch, height, width, self.module.config.block_out_channels[0])

    def _prepare(self) -> None:
        make_vae_interruptible(self.module)
        model_manager().use(self.module)

    def _decode_tiles(self, samples: torch.Tensor, tile: int | tuple[int, int], overlap: int) -> torch.Tensor:
        return blended_tile_passes(samples, lambda tile_samples: self._decode_tile(tile_samples, measure=False), tile,
                                   overlap, self.downscale)

    def _encode_tiles(self, pixels: torch.Tensor, tile: int | tuple[int, int], overlap: int) -> torch.Tensor:
        return blended_tile_passes(pixels, lambda tile_pixels: self._encode_tile(tile_pixels, measure=False), tile,
                                   overlap, 1 / self.downscale)

    def _decode_tile(self, samples: torch.Tensor, measure: bool = True) -> torch.Tensor:
        """The decoder's output [B, 3, H, W] (about -1..1) as float32 on the CPU; in the attention path and layout
        chosen for this size (`measure`: by timing them on the first call of a size; tiles, whose edge tiles come in
        many sizes, keep the decoder's layout as it is)."""
        batch, _channels, height, width = samples.shape
        self.attention.install(self.module, height, width, batch, part="decoder")
        samples, pixels = self._in_layout("decoder", self._run_decoder, samples.to(self.device, self.dtype), 1, width,
                                          measure)
        if pixels is None:
            with torch.no_grad():
                pixels = self._run_decoder(samples)
        return pixels.float().cpu()

    def _encode_tile(self, pixels: torch.Tensor, measure: bool = True) -> torch.Tensor:
        """The posterior's mean for pixels [B, 3, H, W] in -1..1 (H and W multiples of the downscale), as
        `_decode_tile` chooses."""
        f = self.downscale
        batch, _channels, height, width = pixels.shape
        self.attention.install(self.module, height // f, width // f, batch, part="encoder")
        pixels, posterior = self._in_layout("encoder", self._run_encoder, pixels.to(self.device, self.dtype), f,
                                            width // f, measure)
        if posterior is None:
            with torch.no_grad():
                posterior = self._run_encoder(pixels)
        return posterior.mode().float().cpu()

    def _in_layout(self, part_name: str, run, sample: torch.Tensor, downscale: int, latent_width: int,
                   measure: bool) -> tuple[torch.Tensor, Any]:
        """The sample in the part's layout, and the part's output for it when choosing the layout computed it."""
        part = getattr(self.module, part_name)
        if not measure:
            return in_layout(sample, is_channels_last(part)), None
        return self.layout.prepare(part_name, part, run, sample, downscale, latent_width)

    def _run_decoder(self, samples: torch.Tensor) -> torch.Tensor:
        return self.module.decode(samples)

    def _run_encoder(self, pixels: torch.Tensor) -> LatentDistribution:
        return self.module.encode(pixels)

    def _model_pixels(self, image: torch.Tensor) -> torch.Tensor:
        """IMAGE -> the encoder's input layout [B, 3, H, W] in -1..1, cropped to a multiple of the downscale."""
        image = self.crop_to_multiple(image)[..., :3]
        self._prepare()
        return image.movedim(-1, 1) * 2.0 - 1.0

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


def _to_image(pixels: torch.Tensor) -> torch.Tensor:
    """The decoder's output [B, 3, H, W] (a tensor of our own, changed in place) -> IMAGE [B, H, W, 3] in 0..1: a
    view, contiguous when the decoder ran channels-last."""
    return pixels.add_(1.0).mul_(0.5).clamp_(0.0, 1.0).movedim(1, -1)
