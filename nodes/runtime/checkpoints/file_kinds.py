"""Tell a LoRA, a VAE, an embedding or a lone component from a full checkpoint, so the user learns where it belongs."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import NotACheckpointError

Shapes = Mapping[str, Sequence[int]]

UNET_PREFIX = "model.diffusion_model."
LORA_MARKERS = (".lora_down.weight", ".lora_up.weight", ".lora_A.weight", ".lora_B.weight", ".lora.down.weight",
                ".lora.up.weight", ".hada_w1_a", ".hada_w2_a", ".lokr_w1", ".lokr_w1_a", ".lokr_w2", ".lokr_w2_a",
                ".dora_scale")
# Context width (the text encoder's output) -> base model; CLIP-L's hidden width is also SD1's context width.
CONTEXT_WIDTHS = {768: "SD1.x", 1024: "SD2.x", 2048: "SDXL"}


def refuse_non_checkpoint(path: str | Path, shapes: Shapes, metadata: Mapping[str, str]) -> None:
    """Raise NotACheckpointError naming what the file is and where it goes, unless it may be a full checkpoint."""
    if any(key.startswith(UNET_PREFIX) for key in shapes):
        return
    path = Path(path)
    lora_base = _lora_base(shapes, metadata)
    if lora_base is not None:
        raise NotACheckpointError(path, _lora_message(path, lora_base), kind="lora")
    embedding_base = _embedding_base(shapes)
    if embedding_base is not None:
        raise NotACheckpointError(path, _embedding_message(path, embedding_base), kind="embedding")
    part = _lone_part(shapes)
    if part is not None:
        kind, name, where = part
        raise NotACheckpointError(path, f"{path} is {name}, not a full checkpoint: {where}", kind=kind)


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


def _lora_message(path: Path, base: str) -> str:
    article = f"a LoRA for {base}" if base else "a LoRA"
    return (f"{path} is {article}, not a checkpoint: put it in models/loras and apply it with a LoRA loader node "
            f"on top of a {base or 'matching'} checkpoint.")


def _embedding_base(shapes: Shapes) -> str | None:
    """The base model of a textual-inversion file ('' when unknown), None when the file is not one."""
    keys = set(shapes)
    if {"clip_l", "clip_g"} <= keys:
        return "SDXL"
    vectors = [shape for key, shape in shapes.items() if key == "emb_params" or key.startswith("string_to_param.")]
    if not vectors or len(keys) > len(vectors) + 2:
        return None
    return CONTEXT_WIDTHS.get(int(vectors[0][-1]), "")


def _embedding_message(path: Path, base: str) -> str:
    article = f"a textual-inversion embedding for {base}" if base else "a textual-inversion embedding"
    return (f"{path} is {article}, not a checkpoint: put it in models/embeddings and use it in a prompt as "
            f"embedding:{path.stem}.")


def _lone_part(shapes: Shapes) -> tuple[str, str, str] | None:
    """(kind, what the file is, where it belongs) for a single component saved on its own."""
    def has(*keys: str) -> bool:
        return any(all(any(k.startswith(prefix) for k in shapes) for prefix in group.split("+")) for group in keys)

    if has("encoder.conv_in.+decoder.conv_in.", "first_stage_model.encoder.+first_stage_model.decoder.",
           "vae.encoder.+vae.decoder."):
        return "vae", "a VAE", "put it in models/vae and load it with the Load VAE node (VAELoader)."
    if has("control_model.", "controlnet_cond_embedding.", "input_hint_block."):
        return "controlnet", "a ControlNet", "put it in models/controlnet; ControlNets are not supported yet."
    if has("input_blocks.0.0.+out.2.", "conv_in.+down_blocks.0.+up_blocks.0."):
        return ("unet", "a diffusion model (UNet) without VAE or text encoder",
                "this loader needs a full checkpoint; loading a UNet on its own is not supported yet.")
    if has("text_model.encoder.", "transformer.resblocks.", "cond_stage_model.", "conditioner.embedders."):
        return ("text_encoder", "a text encoder (CLIP) without a diffusion model",
                "this loader needs a full checkpoint; loading a text encoder on its own is not supported yet.")
    return None
