"""unCLIP's image conditioning: a UNet whose class input is the CLIP image embedding, noise-augmented, beside the
sinusoid of its noise level (ComfyUI's unclip_adm over its CLIPEmbeddingNoiseAugmentation).

Each entry's "unclip_conditioning" (a list from unCLIPConditioning nodes: clip_vision_output, strength,
noise_augmentation) gives, per encoded image: the embedding noised to level round(999 * noise_augmentation) of a
1000-step squared-cosine schedule, joined with that level's sinusoid, times strength. One such input is the class
input as it is; several are summed and the sum's embedding half is noised once more at level round(999 * 0.05). An
entry without any gets zeros. SDXL reads such an input's embedding half in place of the pooled text
embedding ("revision"). The noise is drawn from the sampling seed - 10, as ComfyUI draws it (ComfyUI draws
the merge's noise unseeded; here it uses the same seed, so results repeat).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from graph_engine import InvalidNodeInput

MAX_NOISE_LEVEL = 1000
SCHEDULE_OFFSET = 0.008  # the squared-cosine schedule's small offset ("squaredcos_cap_v2")
MAX_BETA = 0.999
MERGE_AUGMENTATION = 0.05  # ComfyUI's unclip_noise_augment_merge default
SEED_OFFSET = 10


def takes_image_embedding(model: Any) -> bool:
    """Whether the MODEL's UNet reads a class input made from image embeddings (unCLIP); a MODEL without a UNet
    config (a plugin's or a test's stand-in) reads none."""
    config = getattr(getattr(model, "unet", None), "config", None)
    return getattr(config, "class_embed_type", None) == "projection"


def class_labels(model: Any, entries: Sequence[Any], size: int, seed: int | None) -> torch.Tensor:
    """The UNet's class input for a batch: each conditioning entry's (CondEntry) own, repeated for the `size` latents
    it predicts, in batch order: [len(entries) * size, class input width], float32 on the CPU."""
    width = model.unet.config.projection_class_embeddings_input_dim
    seed = (0 if seed is None else seed) - SEED_OFFSET
    rows = []
    for entry in entries:
        conditioning = entry.options.get("unclip_conditioning")
        adm = unclip_input(conditioning, width // 2, seed) if conditioning else torch.zeros(1, width)
        rows.append(adm.expand(size, -1))
    return torch.cat(rows)


def image_pooled(model: Any, conditioning: Sequence[dict], seed: int | None) -> torch.Tensor:
    """SDXL's "revision": an entry with image embeddings gives them, noise-augmented and summed as above, in place
    of the pooled text embedding ([1, pooled width]; clip_vision_g's 1280 for SDXL base)."""
    config = model.unet.config
    width = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
    return unclip_input(conditioning, width, (0 if seed is None else seed) - SEED_OFFSET)[:, :width]


def unclip_input(conditioning: Sequence[dict], embed_width: int, seed: int) -> torch.Tensor:
    """[1, 2 * embed_width]: the strength-weighted, noise-augmented image embeddings with their noise levels."""
    inputs = []
    for item in conditioning:
        embeds = item["clip_vision_output"].image_embeds
        if embeds.shape[-1] != embed_width:
            raise InvalidNodeInput(f"the model reads image embeddings of width {embed_width}, but the "
                                   f"clip_vision_output given to unCLIPConditioning has width {embeds.shape[-1]}: "
                                   f"encode the image with the CLIP vision model made for it (an unCLIP "
                                   f"checkpoint's own; clip_vision_g for SDXL).")
        level = round((MAX_NOISE_LEVEL - 1) * item["noise_augmentation"])
        inputs += [augment(embed.reshape(1, -1).float(), level, seed) * item["strength"] for embed in embeds]
    if len(inputs) == 1:
        return inputs[0]
    summed = torch.stack(inputs).sum(0)
    return augment(summed[:, :embed_width], round((MAX_NOISE_LEVEL - 1) * MERGE_AUGMENTATION), seed)


def augment(embedding: torch.Tensor, level: int, seed: int) -> torch.Tensor:
    """[1, width] -> [1, 2 * width]: the embedding noised to `level`, then the level's sinusoid (cos, then sin)."""
    from ..models.unet_model import timestep_embedding

    keep, noise_scale = _schedule_at(level)
    noise = torch.randn(embedding.shape, generator=torch.Generator().manual_seed(seed))
    noised = keep * embedding + noise_scale * noise
    sinusoid = timestep_embedding(torch.tensor([level]), embedding.shape[-1], flip_sin_to_cos=True,
                                  downscale_freq_shift=0)
    return torch.cat([noised, sinusoid.float()], dim=1)


def _schedule_at(level: int) -> tuple[float, float]:
    """sqrt(alpha_bar) and sqrt(1 - alpha_bar) at `level`, from betas that discretise cos^2 of time (float64, then
    rounded to float32 as the original buffers are)."""
    def alpha_bar(t: float) -> float:
        return math.cos((t + SCHEDULE_OFFSET) / (1 + SCHEDULE_OFFSET) * math.pi / 2) ** 2

    betas = torch.tensor([min(1 - alpha_bar((i + 1) / MAX_NOISE_LEVEL) / alpha_bar(i / MAX_NOISE_LEVEL), MAX_BETA)
                          for i in range(level + 1)], dtype=torch.float64)
    cumulative = torch.cumprod(1 - betas, 0)[-1]
    return float(cumulative.sqrt().float()), float((1 - cumulative).sqrt().float())
