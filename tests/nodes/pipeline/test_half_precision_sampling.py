"""Sampling with half-precision weights, as a GPU runs (fp16): the UNet gets its inputs, context and SDXL's size
conditioning in its dtype and the sampler keeps float32 latents. The CPU computes fp16 too (slowly), so the path is
tested here against the same checkpoint loaded in float32."""
from __future__ import annotations

import pytest
import torch

SEED, STEPS, CFG = 3, 4, 7.5


def sample(path, dtype, seed=SEED):
    from nodes.diffusion.sampling import KSampler
    from nodes.runtime.checkpoints.loader import load_checkpoint
    from nodes.runtime.models import DiffusionModel, TextEncoders
    from nodes.runtime.text import EmbeddingFolder

    loaded = load_checkpoint(path, "cpu", dtype)
    model = DiffusionModel(unet=loaded.unet, architecture=str(loaded.architecture),
                           prediction_type=loaded.prediction_type, source=path.name)
    clip = TextEncoders(text_encoders=loaded.text_encoders, detected=loaded.detected, source=path.name,
                        embeddings=EmbeddingFolder([]))
    assert model.dtype == dtype
    latent = {"samples": torch.zeros(1, 4, 8, 8)}
    return KSampler().sample(model, seed, STEPS, CFG, "euler", "normal", clip.encode("a cat"), clip.encode("blurry"),
                             latent)[0]["samples"]


@pytest.mark.parametrize("key", ["sd1", "sdxl"])
def test_half_precision_weights_sample_float32_latents_close_to_float32_weights(studio, key):
    path = studio.tiny[key].path
    full, half = sample(path, torch.float32), sample(path, torch.float16)
    assert half.dtype == torch.float32 and half.shape == full.shape
    scale = float(full.abs().max())
    assert float((half - full).abs().max()) < 0.02 * scale  # fp16 rounding over a few steps
    other_seed = sample(path, torch.float32, seed=SEED + 1)
    assert float((other_seed - full).abs().max()) > 0.2 * scale  # the tolerance would catch a real difference
