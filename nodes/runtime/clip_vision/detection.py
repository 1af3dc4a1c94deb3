"""Tell a CLIP vision tower's layout and config from key names and shapes (torch-free: the header is enough).

Two single-file layouts exist, as ComfyUI loads them: transformers' (`vision_model.embeddings...`, with
`visual_projection.weight` when the file keeps the projection to the image-embedding space) and OpenCLIP's
(`visual.transformer.resblocks...`, the projection as `visual.proj`); unCLIP checkpoints hold the OpenCLIP one under
`embedder.model.visual.`. What shapes cannot show follows ComfyUI's configs: 16 attention heads, and the activation
of the published towers (OpenAI's ViT-L, under 32 layers: quick GELU; LAION's ViT-H and bigG: GELU).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Shapes = Mapping[str, Sequence[int]]

TRANSFORMERS_ROOT = "vision_model."
OPEN_CLIP_ROOT = "visual."
UNCLIP_PREFIX = "embedder.model.visual."  # the tower inside an SD2.1 unCLIP checkpoint (OpenCLIP layout)
HEADS = 16  # every CLIP vision config ComfyUI ships (ViT-L, ViT-H, bigG) has 16 heads; weights cannot show it
GELU_FROM_LAYERS = 32  # LAION's ViT-H (32 layers) and bigG (48) use GELU; OpenAI's ViT-L (24) quick GELU
# ComfyUI's preprocessing statistics (OpenAI CLIP's), for every tower it loads
IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)


class NotClipVision(ValueError):
    """The keys are not a CLIP vision tower in a layout this loader reads; the message says what is missing."""


@dataclass(frozen=True)
class ClipVisionLayout:
    """Where a tower's weights are (`prefix`, in "transformers" or "open_clip" layout) and how to build it."""

    layout: str
    prefix: str
    config: dict  # transformers CLIPVisionConfig arguments
    projection: bool  # the file holds the projection to image embeddings

    @property
    def image_size(self) -> int:
        return self.config["image_size"]


def detect_clip_vision(shapes: Shapes, prefix: str = "") -> ClipVisionLayout:
    """The tower under `prefix` ("" for a CLIP vision file, UNCLIP_PREFIX inside an unCLIP checkpoint; a file whose
    keys start with `visual.` is OpenCLIP's)."""
    if f"{prefix}{TRANSFORMERS_ROOT}embeddings.patch_embedding.weight" in shapes:
        return _transformers_layout(shapes, prefix)
    open_clip = prefix if prefix.endswith(OPEN_CLIP_ROOT) else prefix + OPEN_CLIP_ROOT
    if f"{open_clip}transformer.resblocks.0.attn.in_proj_weight" in shapes:
        return _open_clip_layout(shapes, open_clip)
    raise NotClipVision(f"no '{prefix}{TRANSFORMERS_ROOT}embeddings.patch_embedding.weight' (transformers layout) "
                        f"and no '{open_clip}transformer.resblocks.0.attn.in_proj_weight' (OpenCLIP layout)")


def _transformers_layout(shapes: Shapes, prefix: str) -> ClipVisionLayout:
    root = prefix + TRANSFORMERS_ROOT
    layers = _count(shapes, re.escape(root) + r"encoder\.layers\.(\d+)\.")
    projection = shapes.get(prefix + "visual_projection.weight")
    config = _config(width=shapes[root + "embeddings.patch_embedding.weight"][0],
                     patch=shapes[root + "embeddings.patch_embedding.weight"][-1],
                     positions=shapes[root + "embeddings.position_embedding.weight"][0],
                     intermediate=_shape(shapes, f"{root}encoder.layers.0.mlp.fc1.weight")[0],
                     layers=layers, projection=projection[0] if projection else None)
    return ClipVisionLayout("transformers", prefix, config, projection is not None)


def _open_clip_layout(shapes: Shapes, root: str) -> ClipVisionLayout:
    layers = _count(shapes, re.escape(root) + r"transformer\.resblocks\.(\d+)\.")
    projection = shapes.get(root + "proj")
    config = _config(width=_shape(shapes, root + "conv1.weight")[0], patch=shapes[root + "conv1.weight"][-1],
                     positions=_shape(shapes, root + "positional_embedding")[0],
                     intermediate=_shape(shapes, f"{root}transformer.resblocks.0.mlp.c_fc.weight")[0],
                     layers=layers, projection=projection[1] if projection else None)
    return ClipVisionLayout("open_clip", root, config, projection is not None)


def _config(*, width: int, patch: int, positions: int, intermediate: int, layers: int,
            projection: int | None) -> dict:
    side = math.isqrt(positions - 1)
    if side * side != positions - 1:
        raise NotClipVision(f"{positions} position embeddings are not a class token and a square grid of patches")
    if width % HEADS:
        raise NotClipVision(f"a width of {width} does not split into {HEADS} attention heads")
    config = {"hidden_size": width, "intermediate_size": intermediate, "num_hidden_layers": layers,
              "num_attention_heads": HEADS, "num_channels": 3, "patch_size": patch, "image_size": side * patch,
              "hidden_act": "gelu" if layers >= GELU_FROM_LAYERS else "quick_gelu", "layer_norm_eps": 1e-5}
    if projection is not None:
        config["projection_dim"] = projection
    return config


def _count(shapes: Shapes, pattern: str) -> int:
    found = {int(match.group(1)) for key in shapes if (match := re.match(pattern, key))}
    if not found or sorted(found) != list(range(len(found))):
        raise NotClipVision("its transformer layers are missing or not numbered 0..n-1")
    return len(found)


def _shape(shapes: Shapes, key: str) -> Sequence[int]:
    if key not in shapes:
        raise NotClipVision(f"no '{key}'")
    return shapes[key]
