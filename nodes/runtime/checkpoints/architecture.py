"""Detect SD1.x, SD2.x or SDXL base from a checkpoint's key names and tensor shapes, with every component's config.

The family is told by where the text encoders live (SD1.x: `cond_stage_model.transformer.`, SD2.x:
`cond_stage_model.model.`, SDXL: `conditioner.embedders.0.transformer.` + `.1.model.`); the configs come from shapes
(see unet_config, vae_config, text_encoder_config), and the UNet's context width must match the encoders' output.
No hub, no network: only the header of the file is needed.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from .errors import MissingComponentError, UnknownArchitectureError
from .families import foreign_family
from .text_encoder_config import infer_clip_config, infer_open_clip_config
from .unet_config import UNET_PREFIX, LayoutError, infer_unet_config
from .vae_config import SCALING_FACTORS, VAE_PREFIX, infer_vae_config
from . import x4_upscaler

Shapes = Mapping[str, Sequence[int]]


class Architecture(str, Enum):
    """The checkpoint families this loader builds; the value is the name users know."""

    SD1 = "SD1.x"
    SD2 = "SD2.x"
    SDXL = "SDXL"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TextEncoderSpec:
    """One text encoder: where its weights are, how to build it, and which hidden state the family conditions on."""

    name: str  # clip_l, open_clip_h, clip_g
    prefix: str  # key prefix in the file
    layout: str  # "transformers" (CLIP saved by transformers) or "open_clip"
    with_projection: bool  # CLIPTextModelWithProjection: SDXL's second encoder also gives the pooled embedding
    config: dict  # CLIPTextConfig arguments
    hidden_layer: int  # -1: last layer, -2: penultimate (ComfyUI's default for SD2.x and SDXL)
    final_norm: bool  # whether that hidden state goes through the final layer norm


@dataclass(frozen=True)
class CheckpointArchitecture:
    """What a checkpoint is and the configs to build its UNet, VAE (diffusers) and text encoders (ClipTextModel)."""

    architecture: Architecture
    unet_config: dict
    vae_config: dict
    text_encoders: tuple[TextEncoderSpec, ...]


# (name, prefix, layout, with_projection, hidden_layer, final_norm) per family, in conditioning order.
ENCODERS = {
    Architecture.SD1: (("clip_l", "cond_stage_model.transformer.", "transformers", False, -1, True),),
    Architecture.SD2: (("open_clip_h", "cond_stage_model.model.", "open_clip", False, -2, True),),
    Architecture.SDXL: (("clip_l", "conditioner.embedders.0.transformer.", "transformers", False, -2, False),
                        ("clip_g", "conditioner.embedders.1.model.", "open_clip", True, -2, False)),
}
# Heads cannot be seen in weights: SD1.x has 8 per attention layer, SD2.x and SDXL 64 channels per head.
UNET_HEADS = {Architecture.SD1: {"num_heads": 8}, Architecture.SD2: {"head_channels": 64},
              Architecture.SDXL: {"head_channels": 64}}
# Key fragments of other families, a hint for files that families.py cannot place (a part of one, an odd layout).
OTHER_FAMILIES = (
    ("model.diffusion_model.joint_blocks.", "Stable Diffusion 3"),
    ("double_blocks.", "Flux"),
    ("conditioner.embedders.0.model.", "an SDXL refiner"),
)
SUPPORTED = "Latentloom loads Stable Diffusion 1.x, 2.x and SDXL base checkpoints."


def detect_architecture(shapes: Shapes, path: str | Path = "checkpoint") -> CheckpointArchitecture:
    """Architecture and component configs of a full checkpoint, from its {key: shape}; raises a CheckpointError
    that names `path` and lists what was recognised when the file is not one this loader can build."""
    architecture = _family(shapes, path)
    encoders = tuple(_encoder(shapes, path, architecture, *row) for row in ENCODERS[architecture])
    pooled = encoders[-1].config["projection_dim"] if encoders[-1].with_projection else None
    x4 = architecture is Architecture.SD2 and x4_upscaler.is_x4_upscaler(shapes)
    heads = x4_upscaler.HEADS if x4 else UNET_HEADS[architecture]
    unet_config = _component(path, shapes, architecture, "UNet", lambda: infer_unet_config(
        shapes, pooled_width=pooled, **heads))
    if architecture is Architecture.SD2:
        unet_config["upcast_attention"] = True  # SD2.x overflows in fp16 attention otherwise
    if architecture is Architecture.SDXL and "addition_embed_type" not in unet_config:
        raise _unknown(path, shapes, "its UNet has no size conditioning (label_emb), which SDXL base has")
    _check_context(path, shapes, architecture, unet_config, encoders)
    if not any(key.startswith(VAE_PREFIX) for key in shapes):
        raise MissingComponentError(path, f"{path} holds an {architecture} UNet and text encoder but no VAE (no "
                                          f"{VAE_PREFIX}* weights). Use a full checkpoint; loading a separate VAE "
                                          f"with a checkpoint that lacks one is not supported yet.")
    scale = x4_upscaler.SCALING_FACTOR if x4 else SCALING_FACTORS[architecture.value]
    vae_config = _component(path, shapes, architecture, "VAE", lambda: infer_vae_config(shapes, scaling_factor=scale))
    return CheckpointArchitecture(architecture, unet_config, vae_config, encoders)


def _family(shapes: Shapes, path: str | Path) -> Architecture:
    def has(prefix: str) -> bool:
        return any(key.startswith(prefix) for key in shapes)

    foreign = foreign_family(shapes)
    if foreign is not None:
        raise UnknownArchitectureError(path, f"{path} is {foreign.description}: {foreign.unsupported}.")
    for fragment, family in OTHER_FAMILIES:
        if any(fragment in key for key in shapes):
            raise _unknown(path, shapes, f"it looks like {family}")
    if not has(UNET_PREFIX + "input_blocks."):
        if has(UNET_PREFIX):
            raise _unknown(path, shapes, "its diffusion model is not a Stable Diffusion UNet")
        if not any(has(prefix) for prefix in (VAE_PREFIX, "cond_stage_model.", "conditioner.")):
            raise _unknown(path, shapes, "it holds no Stable Diffusion component")
        raise MissingComponentError(path, f"{path} has no diffusion model (no {UNET_PREFIX}* weights). "
                                          f"Recognised: {'; '.join(survey(shapes))}. {SUPPORTED}")
    if has(ENCODERS[Architecture.SDXL][0][1]) and has(ENCODERS[Architecture.SDXL][1][1]):
        return Architecture.SDXL
    if has(ENCODERS[Architecture.SD1][0][1]):
        return Architecture.SD1
    if has(ENCODERS[Architecture.SD2][0][1]):
        return Architecture.SD2
    raise MissingComponentError(path, f"{path} has a UNet but no text encoder this loader knows (looked for "
                                      f"cond_stage_model.transformer., cond_stage_model.model. and SDXL's "
                                      f"conditioner.embedders.0/1). Recognised: {'; '.join(survey(shapes))}. "
                                      f"{SUPPORTED}")


def _encoder(shapes: Shapes, path: str | Path, architecture: Architecture, name: str, prefix: str, layout: str,
             with_projection: bool, hidden_layer: int, final_norm: bool) -> TextEncoderSpec:
    infer = infer_clip_config if layout == "transformers" else infer_open_clip_config
    config = _component(path, shapes, architecture, f"text encoder {name}", lambda: infer(shapes, prefix))
    return TextEncoderSpec(name, prefix, layout, with_projection, config, hidden_layer, final_norm)


def _component(path: str | Path, shapes: Shapes, architecture: Architecture, component: str, infer):
    try:
        return infer()
    except LayoutError as error:
        raise _unknown(path, shapes, f"its {component} is not laid out like {architecture}'s ({error})") from None


def _check_context(path: str | Path, shapes: Shapes, architecture: Architecture, unet_config: dict,
                   encoders: tuple[TextEncoderSpec, ...]) -> None:
    """The UNet attends to the text encoders' hidden states (SDXL: both, concatenated)."""
    given = sum(encoder.config["hidden_size"] for encoder in encoders)
    expected = unet_config["cross_attention_dim"]
    if given != expected:
        raise _unknown(path, shapes, f"its UNet expects text features of width {expected} but its {architecture} "
                                     f"text encoder(s) give {given}")


def survey(shapes: Shapes) -> list[str]:
    """What parts a file holds, in words, for error messages."""
    parts = []
    named = (
        (UNET_PREFIX, "a diffusion model"), (VAE_PREFIX, "a VAE"),
        ("cond_stage_model.transformer.", "a CLIP text encoder (SD1.x layout)"),
        ("cond_stage_model.model.", "an OpenCLIP text encoder (SD2.x layout)"),
        ("conditioner.embedders.0.transformer.", "a CLIP-L text encoder (SDXL layout)"),
        ("conditioner.embedders.1.model.", "an OpenCLIP bigG text encoder (SDXL layout)"),
        ("conditioner.embedders.0.model.", "an OpenCLIP text encoder (SDXL refiner layout)"),
    )
    rest = dict(shapes)
    for prefix, words in named:
        keys = [key for key in rest if key.startswith(prefix)]
        if keys:
            parts.append(f"{words} ({prefix}*, {len(keys)} tensors{_unet_details(shapes, prefix)})")
            for key in keys:
                del rest[key]
    groups = Counter(".".join(key.split(".")[:2]) for key in rest)
    parts += [f"{count} tensors under {group}.*" for group, count in groups.most_common(5)]
    return parts or ["no tensors"]


def _unet_details(shapes: Shapes, prefix: str) -> str:
    if prefix != UNET_PREFIX or UNET_PREFIX + "input_blocks.0.0.weight" not in shapes:
        return ""
    details = f", {shapes[UNET_PREFIX + 'input_blocks.0.0.weight'][1]} input channels"
    widths = sorted({shape[1] for key, shape in shapes.items()
                     if key.startswith(prefix) and key.endswith("attn2.to_k.weight")})
    return details + (f", context width {widths[0]}" if len(widths) == 1 else "")


def _unknown(path: str | Path, shapes: Shapes, why: str) -> UnknownArchitectureError:
    return UnknownArchitectureError(path, f"{path} is not a checkpoint this loader can build: {why}. Recognised: "
                                          f"{'; '.join(survey(shapes))}. {SUPPORTED}")

