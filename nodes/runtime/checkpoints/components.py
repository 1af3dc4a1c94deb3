"""Build each component (UNet, VAE, text encoder) from its config on meta and fill it from the checkpoint.

`empty_*` and `fill_*` are apart so a loader can build every empty module while the weights are still being read."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from .architecture import TextEncoderSpec
from .conversion import text_encoder_state_dict, unet_state_dict, vae_state_dict
from .errors import UnknownArchitectureError
from .meta_modules import empty_module, fill_module
from .unet_config import LayoutError


def empty_unet(config: dict):
    """Our UNet (diffusers' UNet2DConditionModel config and names) on meta."""
    from ..models.unet_model import UNetModel

    return empty_module(lambda: UNetModel(config))


def fill_unet(module, weights: Mapping[str, torch.Tensor], path: Path, device: torch.device):
    """The empty UNet filled from `model.diffusion_model.*`."""
    return fill_module(module, unet_state_dict(weights, module), component="UNet", path=path, device=device)


def build_unet(config: dict, weights: Mapping[str, torch.Tensor], path: Path, device: torch.device):
    """Our UNet filled from `model.diffusion_model.*`."""
    return fill_unet(empty_unet(config), weights, path, device)


def empty_vae(config: dict):
    """Our AutoencoderKl on meta."""
    from ..models.autoencoder import AutoencoderKl

    return empty_module(lambda: AutoencoderKl(config))


def fill_vae(module, weights: Mapping[str, torch.Tensor], path: Path, device: torch.device):
    """The empty VAE filled from `first_stage_model.*` (1x1 attention convolutions become linear)."""
    return fill_module(module, vae_state_dict(weights, module), component="VAE", path=path, device=device)


def build_vae(config: dict, weights: Mapping[str, torch.Tensor], path: Path, device: torch.device):
    """Our AutoencoderKl filled from `first_stage_model.*`."""
    return fill_vae(empty_vae(config), weights, path, device)


def empty_text_encoder(spec: TextEncoderSpec):
    """Our CLIP text model on meta, with the pooled projection where the family uses it."""
    from ..models.clip_text_model import ClipTextModel

    return empty_module(lambda: ClipTextModel(spec.config, spec.with_projection))


def fill_text_encoder(module, spec: TextEncoderSpec, weights: Mapping[str, torch.Tensor], path: Path,
                      device: torch.device):
    """The empty text encoder filled from the weights under `spec.prefix`."""
    try:
        state_dict = text_encoder_state_dict(weights, spec)
    except LayoutError as error:
        raise UnknownArchitectureError(path, f"{path}: text encoder {spec.name} cannot be read ({error}).") from None
    return fill_module(module, state_dict, component=f"text encoder {spec.name}", path=path, device=device)


def build_text_encoder(spec: TextEncoderSpec, weights: Mapping[str, torch.Tensor], path: Path,
                       device: torch.device):
    """A text encoder filled from the weights under `spec.prefix`."""
    return fill_text_encoder(empty_text_encoder(spec), spec, weights, path, device)
