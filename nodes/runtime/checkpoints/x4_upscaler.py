"""Stable Diffusion's x4 upscaler (stabilityai's x4-upscaler-ema): an SD2.x checkpoint (OpenCLIP-H text encoder)
whose UNet reads the noisy low-resolution image (3 channels) beside the 4-channel latent and takes the image's
noise level as its class label (`label_emb.weight`, 1000 classes), with a VAE of three levels (4x downsampling).

What its weights cannot show follows the published model, as ComfyUI sets it: 8 heads per attention layer, v
prediction, a latent scale of 0.08333, and a training schedule of betas 0.0001..0.02 (linear in sqrt space).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from .unet_config import UNET_PREFIX

IMAGE_CHANNELS = 3  # the low-resolution RGB image joined to the latent
LATENT_CHANNELS = 4
HEADS = {"num_heads": 8}
SCALING_FACTOR = 0.08333
PREDICTION_TYPE = "v_prediction"
LINEAR_START, LINEAR_END = 0.0001, 0.02
CLASS_INPUT = UNET_PREFIX + "label_emb.weight"


def is_x4_upscaler(shapes: Mapping[str, Sequence[int]]) -> bool:
    """Whether a checkpoint's UNet is the x4 upscaler's: 7 input channels and a class embedding table."""
    conv_in = shapes.get(UNET_PREFIX + "input_blocks.0.0.weight")
    return (conv_in is not None and len(conv_in) == 4 and conv_in[1] == LATENT_CHANNELS + IMAGE_CHANNELS
            and len(shapes.get(CLASS_INPUT, ())) == 2)


def is_x4_unet_config(config: Mapping) -> bool:
    """The same test on a UNet config (a dict, or a built UNet's `config`): diffusers' `num_class_embeds` is the
    class table."""
    return (config.get("in_channels") == LATENT_CHANNELS + IMAGE_CHANNELS
            and config.get("num_class_embeds") is not None)
