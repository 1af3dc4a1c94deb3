"""A VAE on its own (models/vae): original-layout files, with or without the `first_stage_model.` prefix."""
from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint_file import open_checkpoint_file
from .components import build_vae
from .conversion import LazyWeights
from .errors import UnknownArchitectureError
from .unet_config import LayoutError
from .vae_config import VAE_PREFIX, infer_vae_config

VAE_PREFIXES = (VAE_PREFIX, "vae.", "")


def load_vae_file(path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """Our AutoencoderKl filled from a VAE file (or the VAE inside a full checkpoint)."""
    device = torch.device(device)
    with open_checkpoint_file(path) as checkpoint:
        prefix = next((p for p in VAE_PREFIXES if p + "decoder.conv_in.weight" in checkpoint.shapes), None)
        if prefix is None:
            diffusers_layout = "decoder.up_blocks.0.resnets.0.conv1.weight" in checkpoint.shapes
            raise UnknownArchitectureError(checkpoint.path, (
                f"{checkpoint.path} is not a VAE in the original layout" + (
                    " (it is in the diffusers layout: use the .safetensors file of the original release, e.g. "
                    "'vae-ft-mse-840000-ema-pruned.safetensors' or 'sdxl_vae.safetensors')" if diffusers_layout else
                    " (no decoder.conv_in weight found)") + "."))
        try:
            config = infer_vae_config(checkpoint.shapes, scaling_factor=1.0, prefix=prefix)
        except LayoutError as error:
            raise UnknownArchitectureError(checkpoint.path, f"{checkpoint.path}: the VAE cannot be read ({error}).") \
                from None
        weights = LazyWeights(checkpoint, device, dtype)
        if prefix != VAE_PREFIX:  # the converter looks for the checkpoint prefix first, then takes bare names
            weights = {VAE_PREFIX + key[len(prefix):]: weights[key] for key in checkpoint.shapes
                       if key.startswith(prefix)}
        return build_vae(config, weights, checkpoint.path, device)
