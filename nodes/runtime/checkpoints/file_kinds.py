"""Tell a checkpoint, a LoRA, a VAE, an embedding or a lone component apart from a file's header alone.

Models of families Latentloom cannot run (families.py) are named with their family first. The loaders use it to tell
users where a misplaced file belongs; the model library uses it to list and sort files.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import CheckpointError, NotACheckpointError
from .families import ForeignFamily, foreign_family
from ..gligen.layout import NotAGligenLayout, read_gligen_layout
from ..clip_vision.detection import NotClipVision, detect_clip_vision
from ..upscale_models.detection import UnknownUpscaleLayout, detect_upscale_model

Shapes = Mapping[str, Sequence[int]]

UNET_PREFIX = "model.diffusion_model."
LORA_MARKERS = (".lora_down.weight", ".lora_up.weight", ".lora_A.weight", ".lora_B.weight", ".lora.down.weight",
                ".lora.up.weight", ".hada_w1_a", ".hada_w2_a", ".lokr_w1", ".lokr_w1_a", ".lokr_w2", ".lokr_w2_a",
                ".dora_scale")
# Context width (the text encoder's output) -> base model; CLIP-L's hidden width is also SD1's context width.
CONTEXT_WIDTHS = {768: "SD1.x", 1024: "SD2.x", 2048: "SDXL"}
# an A1111 hypernetwork's tensors, as the pickle reader flattens them: <width>.<0 key | 1 value>.linear.<n>.<param>
HYPERNETWORK_KEY = re.compile(r"\d+\.[01]\.linear\.\d+\.(weight|bias)")
CONTROL_LOADER = "load it with Load ControlNet Model (ControlNetLoader)"
KINDS = ("checkpoint", "lora", "embedding", "vae", "controlnet", "unet", "text_encoder", "config", "upscale_model",
         "gligen", "clip_vision", "style_model", "hypernetwork", "unknown")


@dataclass(frozen=True)
class FileKind:
    """What a model file is: `kind` (one of KINDS), the base family when known ('' otherwise), and a sentence for
    users saying what it is and where it belongs. `unsupported` is set for a valid file of a family Latentloom
    cannot run (then `base` names that family: FLUX.1, SD3 ...)."""

    kind: str
    base: str
    description: str
    advice: str
    unsupported: str | None = None


def classify_file(shapes: Shapes, metadata: Mapping[str, str], name: str = "the file") -> FileKind:
    """Classify by key names and shapes (no tensor is read); `name` is used in the advice (embedding:<name>)."""
    foreign = foreign_family(shapes)
    if foreign is not None:
        return _foreign_kind(foreign, shapes)
    if any(key.startswith(UNET_PREFIX) for key in shapes):
        return FileKind("checkpoint", _checkpoint_base(shapes), "a checkpoint",
                        "put it in models/checkpoints and load it with Load Checkpoint (CheckpointLoaderSimple).")
    lora_base = _lora_base(shapes, metadata)
    if lora_base is not None:
        return FileKind("lora", lora_base, f"a LoRA for {lora_base}" if lora_base else "a LoRA",
                        f"put it in models/loras and apply it with a LoRA loader node on top of a "
                        f"{lora_base or 'matching'} checkpoint.")
    embedding_base = _embedding_base(shapes)
    if embedding_base is not None:
        article = (f"a textual-inversion embedding for {embedding_base}" if embedding_base
                   else "a textual-inversion embedding")
        return FileKind("embedding", embedding_base, article,
                        f"put it in models/embeddings and use it in a prompt as embedding:{Path(name).stem}.")
    part = _lone_part(shapes)
    if part is not None:
        return FileKind(part[0], "", part[1], part[2])
    upscaler = _upscale_model(shapes)
    if upscaler is not None:
        return upscaler
    gligen = _gligen(shapes)
    if gligen is not None:
        return gligen
    image_part = _image_conditioning_part(shapes)
    if image_part is not None:
        return image_part
    return FileKind("unknown", "", "not a model file Latentloom recognises",
                    "check that it is a Stable Diffusion 1.x, 2.x or SDXL checkpoint, LoRA, VAE or embedding.")


def refuse_non_checkpoint(path: str | Path, shapes: Shapes, metadata: Mapping[str, str]) -> None:
    """Raise NotACheckpointError naming what the file is and where it goes, unless it may be a full checkpoint."""
    if any(key.startswith(UNET_PREFIX) for key in shapes):
        return  # the loader detects the architecture next; classifying would detect it twice
    found = classify_file(shapes, metadata, str(path))
    if found.kind == "unknown":
        return
    path = Path(path)
    whole = "a checkpoint" if found.kind in ("lora", "embedding") else "a full checkpoint"
    raise NotACheckpointError(path, f"{path} is {found.description}, not {whole}: {found.advice}", kind=found.kind)


def _foreign_kind(family: ForeignFamily, shapes: Shapes) -> FileKind:
    """A model (a full checkpoint, or its diffusion model alone) or a VAE of a family Latentloom cannot run."""
    if family.part == "vae":
        return FileKind("vae", family.name, family.description, f"{family.unsupported}.", family.unsupported)
    whole = any(key.startswith(UNET_PREFIX) for key in shapes)
    return FileKind("checkpoint" if whole else "unet", family.name,
                    family.description if whole else f"{family.description} (the diffusion model alone)",
                    f"{family.unsupported}.", family.unsupported)


def _checkpoint_base(shapes: Shapes) -> str:
    from .architecture import detect_architecture

    try:
        return detect_architecture(shapes).architecture.value
    except CheckpointError:
        return ""


def _lora_base(shapes: Shapes, metadata: Mapping[str, str]) -> str | None:
    """'' for a LoRA of unknown base, the base name when known, None when the file is not a LoRA."""
    if not any(key.endswith(LORA_MARKERS) or key.startswith(("lora_unet_", "lora_te")) for key in shapes):
        return None
    version = (metadata.get("ss_base_model_version", "") + " " + metadata.get("modelspec.architecture", "")).lower()
    for marker, base in (("xl", "SDXL"), ("v2", "SD2.x"), ("v1", "SD1.x")):
        if marker in version:
            return base
    if any(key.startswith(("lora_te1_", "lora_te2_")) for key in shapes):
        return "SDXL"
    for key, shape in shapes.items():
        # a down (A) matrix is [rank, input width]: cross-attention keys and values read the text's width
        down_matrix = key.endswith((".lora_down.weight", ".lora_A.weight", ".lora.down.weight")) and len(shape) == 2
        reads_text = "attn2_to_k" in key or "attn2.to_k" in key or (key.startswith("lora_te_") and "q_proj" in key)
        if down_matrix and reads_text and int(shape[1]) in CONTEXT_WIDTHS:
            return CONTEXT_WIDTHS[int(shape[1])]
    return ""


def _embedding_base(shapes: Shapes) -> str | None:
    """The base model of a textual-inversion file ('' when unknown), None when the file is not one."""
    keys = set(shapes)
    if {"clip_l", "clip_g"} <= keys:
        return "SDXL"
    vectors = [shape for key, shape in shapes.items() if key == "emb_params" or key.startswith("string_to_param.")]
    if not vectors or len(keys) > len(vectors) + 2:
        return None
    return CONTEXT_WIDTHS.get(int(vectors[0][-1]), "")


def _upscale_model(shapes: Shapes) -> FileKind | None:
    """An image upscale model (ESRGAN, RealESRGAN), None for anything else."""
    try:
        found = detect_upscale_model(shapes)
    except UnknownUpscaleLayout:
        return None
    return FileKind("upscale_model", "", f"a {found.config.scale}x image upscale model ({found.config.name})",
                    "put it in models/upscale_models and load it with Load Upscale Model (UpscaleModelLoader).")


def _gligen(shapes: Shapes) -> FileKind | None:
    """A GLIGEN model (position net and gated self-attention fusers), None for anything else."""
    try:
        layout = read_gligen_layout(shapes)
    except NotAGligenLayout:
        return None
    return FileKind("gligen", CONTEXT_WIDTHS.get(layout.position.grounding_width, ""), "a GLIGEN model",
                    "put it in models/gligen and load it with Load GLIGEN Model (GLIGENLoader).")


def _image_conditioning_part(shapes: Shapes) -> FileKind | None:
    """A CLIP vision image encoder, a T2I-Adapter style model or an A1111 hypernetwork; None for anything else."""
    try:
        detect_clip_vision(shapes)
        return FileKind("clip_vision", "", "a CLIP vision model (image encoder)",
                        "put it in models/clip_vision and load it with Load CLIP Vision (CLIPVisionLoader).")
    except NotClipVision:
        pass
    if "style_embedding" in shapes and "proj" in shapes:
        return FileKind("style_model", "", "a T2I-Adapter style model",
                        "put it in models/style_models and load it with Load Style Model (StyleModelLoader).")
    if shapes and all(HYPERNETWORK_KEY.fullmatch(key) for key in shapes):
        return FileKind("hypernetwork", "", "an A1111 hypernetwork",
                        "put it in models/hypernetworks and apply it with Load Hypernetwork (HypernetworkLoader).")
    return None


def _lone_part(shapes: Shapes) -> tuple[str, str, str] | None:
    """(kind, what the file is, where it belongs) for a single component saved on its own."""
    def has(*keys: str) -> bool:
        return any(all(any(k.startswith(prefix) for k in shapes) for prefix in group.split("+")) for group in keys)

    if has("encoder.conv_in.+decoder.conv_in.", "first_stage_model.encoder.+first_stage_model.decoder.",
           "vae.encoder.+vae.decoder."):
        return "vae", "a VAE", "put it in models/vae and load it with the Load VAE node (VAELoader)."
    if has("control_model.", "controlnet_cond_embedding.", "input_hint_block."):
        return "controlnet", "a ControlNet", f"put it in models/controlnet and {CONTROL_LOADER}."
    if has("adapter.conv_in.", "adapter.body.0.", "conv_in.+body.0.block1.", "body.0.in_conv."):
        return "controlnet", "a T2I-Adapter", f"put it in models/controlnet and {CONTROL_LOADER}."
    if has("input_blocks.0.0.+out.2.", "conv_in.+down_blocks.0.+up_blocks.0."):
        return ("unet", "a diffusion model (UNet) without VAE or text encoder",
                "put it in models/diffusion_models and load it with Load Diffusion Model (UNETLoader).")
    if has("text_model.encoder.", "transformer.resblocks.", "cond_stage_model.", "conditioner.embedders."):
        return ("text_encoder", "a text encoder (CLIP) without a diffusion model",
                "put it in models/text_encoders and load it with Load CLIP (CLIPLoader, or DualCLIPLoader for "
                "SDXL's pair).")
    return None
