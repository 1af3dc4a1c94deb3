"""Build each component (UNet, VAE, text encoder) from its config on meta and fill it from the checkpoint."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from .architecture import TextEncoderSpec
from .conversion import text_encoder_state_dict, unet_state_dict, vae_state_dict
from .errors import UnknownArchitectureError
from .meta_modules import empty_module, fill_module
from .unet_config import LayoutError


def build_unet(config: dict, weights: Mapping[str, torch.Tensor], path: Path, device: torch.device):
    """diffusers UNet2DConditionModel filled from `model.diffusion_model.*`."""
    from diffusers import UNet2DConditionModel

    module = empty_module(lambda: UNet2DConditionModel(**config))
    return fill_module(module, unet_state_dict(weights, config), component="UNet", path=path, device=device)


def build_vae(config: dict, weights: Mapping[str, torch.Tensor], path: Path, device: torch.device):
    """diffusers AutoencoderKL filled from `first_stage_model.*`."""
    from diffusers import AutoencoderKL

    module = empty_module(lambda: AutoencoderKL(**config))
    return fill_module(module, vae_state_dict(weights, config), component="VAE", path=path, device=device)


def build_text_encoder(spec: TextEncoderSpec, weights: Mapping[str, torch.Tensor], path: Path,
                       device: torch.device):
    """transformers CLIPTextModel, or CLIPTextModelWithProjection where the family uses the pooled projection."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    model_class = CLIPTextModelWithProjection if spec.with_projection else CLIPTextModel
    module = empty_module(lambda: model_class(CLIPTextConfig(**spec.config)))
    try:
        state_dict = text_encoder_state_dict(weights, spec)
    except LayoutError as error:
        raise UnknownArchitectureError(path, f"{path}: text encoder {spec.name} cannot be read ({error}).") from None
    if not hasattr(module, "text_model"):  # transformers >= 5.6 flattened CLIPTextModel
        state_dict = {key.removeprefix("text_model."): value for key, value in state_dict.items()}
    return fill_module(module, state_dict, component=f"text encoder {spec.name}", path=path, device=device)
