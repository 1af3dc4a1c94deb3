"""Infer transformers CLIPTextConfig arguments from a checkpoint's text-encoder keys and shapes.

Two layouts occur in SD files: OpenAI CLIP-L saved by transformers (`...transformer.text_model.*`, SD1.x and SDXL's
first encoder) and OpenCLIP (`...model.transformer.resblocks.*`, SD2.x's ViT-H and SDXL's bigG). Every one of them
uses 64-channel attention heads, which the shapes cannot show; the activation is likewise a property of the family.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .unet_config import LayoutError

Shapes = Mapping[str, Sequence[int]]

HEAD_CHANNELS = 64
# SD configs use the legacy id 2 for end-of-text, which makes CLIP pool at the highest token id (the real EOT, 49407)
# whatever the vocabulary size.
TOKEN_IDS = {"bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}


def transformers_clip_root(shapes: Shapes, prefix: str) -> str:
    """The key prefix of the CLIP text model proper (older files omit `text_model.`)."""
    return prefix + "text_model." if any(key.startswith(prefix + "text_model.") for key in shapes) else prefix


def infer_clip_config(shapes: Shapes, prefix: str) -> dict:
    """CLIPTextConfig arguments for an OpenAI CLIP text model saved in transformers' layout under `prefix`."""
    root = transformers_clip_root(shapes, prefix)
    vocab, width = _shape(shapes, root + "embeddings.token_embedding.weight")
    return _config(
        vocab=vocab, width=width,
        positions=_shape(shapes, root + "embeddings.position_embedding.weight")[0],
        layers=_count(shapes, re.escape(root) + r"encoder\.layers\.(\d+)\."),
        intermediate=_shape(shapes, root + "encoder.layers.0.mlp.fc1.weight")[0],
        activation="quick_gelu", projection=width)


def infer_open_clip_config(shapes: Shapes, prefix: str) -> dict:
    """CLIPTextConfig arguments for an OpenCLIP text tower under `prefix` (projection width from text_projection)."""
    vocab, width = _shape(shapes, prefix + "token_embedding.weight")
    projection = shapes.get(prefix + "text_projection")
    return _config(
        vocab=vocab, width=width,
        positions=_shape(shapes, prefix + "positional_embedding")[0],
        layers=_count(shapes, re.escape(prefix) + r"transformer\.resblocks\.(\d+)\."),
        intermediate=_shape(shapes, prefix + "transformer.resblocks.0.mlp.c_fc.weight")[0],
        activation="gelu", projection=int(projection[1]) if projection else width)


def _config(*, vocab: int, width: int, positions: int, layers: int, intermediate: int, activation: str,
            projection: int) -> dict:
    if width % HEAD_CHANNELS:
        raise LayoutError(f"a text encoder width of {width}, which does not split into 64-channel heads")
    if layers == 0:
        raise LayoutError("a text encoder without layers")
    return {
        "vocab_size": vocab, "hidden_size": width, "intermediate_size": intermediate,
        "num_hidden_layers": layers, "num_attention_heads": width // HEAD_CHANNELS,
        "max_position_embeddings": positions, "hidden_act": activation, "layer_norm_eps": 1e-5,
        "projection_dim": projection, **TOKEN_IDS,
    }


def _shape(shapes: Shapes, key: str) -> tuple[int, ...]:
    if key not in shapes:
        raise LayoutError(f"no '{key}'")
    return tuple(int(size) for size in shapes[key])


def _count(shapes: Shapes, pattern: str) -> int:
    compiled = re.compile(pattern)
    indices = {int(m.group(1)) for key in shapes if (m := compiled.match(key))}
    return max(indices) + 1 if indices else 0
