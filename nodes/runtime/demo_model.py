"""A small random-weight SD1.x checkpoint, so the whole pipeline runs on a fresh machine without downloads.

`latentloom demo-model` (and the README's run command, when `models/checkpoints` is empty) writes it. Its weights are
random, so its images are noise; the file name and its safetensors metadata say so. It is built to behave like a
real SD1.x model where the pipeline can tell: the loader detects it as SD1.x epsilon, its VAE maps 512x512 pixels to a
4x64x64 latent (three downsamplings, scaling factor 0.18215), and its text encoder has CLIP's full 49408-token
vocabulary and 77 positions, so the real tokenizer's ids fit. Everything else is as small as the fixed rules allow
(32 norm groups, 64-channel text attention heads), which keeps the file near 10 MB and writing it near a second.

Importing this module loads no torch: the CLI can look for the file by name before anything heavy is needed.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from graph_engine.partial_files import create_new_file

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

log = logging.getLogger(__name__)

DEMO_CHECKPOINT_NAME = "latentloom-demo-sd1-random-weights.safetensors"
DEMO_METADATA = {
    "latentloom_demo": "random weights: images are noise",
    "modelspec.title": "Latentloom demo (random weights)",
    "modelspec.architecture": "stable-diffusion-v1",
}

TEXT_WIDTH = 64  # one 64-channel attention head, the smallest width the loader's CLIP rules allow
CLIP_VOCABULARY = 49408  # CLIP's full vocabulary: the real tokenizer gives ids up to 49407
CLIP_POSITIONS = 77
CLIP_START, CLIP_END = 49406, 49407


def demo_unet() -> UNet2DConditionModel:
    """An SD1.x-shaped UNet (attention on every level but the last, 8 heads, 1x1-conv projections), two levels."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(sample_size=64, block_out_channels=(32, 64), layers_per_block=1,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                                cross_attention_dim=TEXT_WIDTH, attention_head_dim=8, norm_num_groups=32)


def demo_vae() -> AutoencoderKL:
    """A VAE with SD's geometry: four levels (8x downsampling), 4 latent channels, SD1.x's scaling factor."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(32, 32, 64, 64), down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=1, latent_channels=4,
                         norm_num_groups=32, sample_size=512, scaling_factor=0.18215)


def demo_text_encoder() -> CLIPTextModel:
    """A narrow CLIP-L-like text encoder (quick_gelu, final layer norm) with CLIP's vocabulary and token ids."""
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(vocab_size=CLIP_VOCABULARY, hidden_size=TEXT_WIDTH, intermediate_size=4 * TEXT_WIDTH,
                            num_hidden_layers=2, num_attention_heads=1, max_position_embeddings=CLIP_POSITIONS,
                            hidden_act="quick_gelu", projection_dim=TEXT_WIDTH, bos_token_id=CLIP_START,
                            eos_token_id=CLIP_END, pad_token_id=CLIP_END)
    return CLIPTextModel(config)


def write_demo_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write the demo checkpoint to `path` (a file path) unless a file is already there; return `path`.

    The modules come from `seed` on the CPU, so the same seed writes the same weights; the global random state is
    left as it was. The file is written under a temporary name in the same folder and then renamed, so an
    interrupted write never leaves a truncated checkpoint where the loader would find it.
    """
    path = Path(path)
    if path.exists():
        log.info("demo checkpoint %s already exists; leaving it as it is", path)
        return path
    import torch

    from .checkpoints.ldm_layout import save_ldm_checkpoint

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # module constructors draw their initial weights from the global generator
        unet, vae, text = demo_unet().eval(), demo_vae().eval(), demo_text_encoder().eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = create_new_file(path.parent, f".{path.name}.", ".tmp")
    mode = os.fstat(handle).st_mode & 0o777  # the usual mode for new files (umask); safetensors writes 0600
    os.close(handle)
    try:
        save_ldm_checkpoint(temporary, unet, vae, (text,), "SD1.x", torch.float16, metadata=DEMO_METADATA)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    log.info("wrote demo checkpoint %s (%.1f MB, random weights: images are noise)", path,
             path.stat().st_size / 1e6)
    return path
