"""Lower bounds of the memory the models take at a given size, for the diffusion nodes' estimates at validation.

Each bound is what the smallest model Latentloom loads (the demo checkpoint) must hold at least, so an estimate never
refuses work that would have fitted; real SD1/SD2/SDXL models need several times more.
"""
from __future__ import annotations

import math

FLOAT32 = 4
UNET_MIN_CHANNELS = 32  # the first UNet block's width: 32 in the demo model, 320 in SD1, SD2 and SDXL
VAE_MIN_CHANNELS = 32  # the VAE's full-resolution block: 32 in the demo model, 128 in SD's VAEs
LIVE_ACTIVATIONS = 2  # a block's input and its output are held together
SAMPLER_LATENTS = 3  # the sampler's x, denoised and derivative, each the latent's size


def computes_in_host_memory() -> bool:
    """Whether the models compute in host memory (the CPU, or Apple's unified memory), so that their activations count
    against the host memory budget; asks the device manager, which loads torch as the run would."""
    from ..devices import model_manager

    return model_manager().compute_device.type in ("cpu", "mps")


def sampling_bytes(latent_shape: tuple[int, ...], model_batches: int) -> int:
    """Scratch memory of sampling a latent [B, C, h, w]: the sampler's latents and the UNet's first block, run on
    `model_batches` copies (2 with a negative prompt: cond and uncond together)."""
    batch, _channels, height, width = latent_shape
    latent = math.prod(latent_shape) * FLOAT32
    first_block = model_batches * batch * UNET_MIN_CHANNELS * height * width * FLOAT32 * LIVE_ACTIVATIONS
    return SAMPLER_LATENTS * latent + first_block


def vae_bytes(batch: int, height: int, width: int, channels: int = VAE_MIN_CHANNELS) -> int:
    """Scratch memory of decoding to or encoding from `batch` images of width x height pixels: the VAE's
    full-resolution block (of `channels`, the smallest VAE's unless told) and the pixels in the model's layout."""
    return batch * height * width * FLOAT32 * (channels * LIVE_ACTIVATIONS + 3)
