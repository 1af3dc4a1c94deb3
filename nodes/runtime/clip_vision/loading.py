"""Build a CLIP vision tower (transformers' CLIPVisionModelWithProjection) on meta and fill it from a file."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch

from ..checkpoints import CheckpointError, classify_file, open_checkpoint_file
from ..checkpoints.conversion import LazyWeights, _open_clip_layer
from ..checkpoints.meta_modules import empty_module, fill_module
from ..devices import model_manager
from .detection import ClipVisionLayout, NotClipVision, detect_clip_vision
from .model import ClipVision

log = logging.getLogger(__name__)

# OpenCLIP's names outside the layers -> transformers' (the projection is transposed separately)
OPEN_CLIP_NAMES = {"class_embedding": "vision_model.embeddings.class_embedding",
                   "conv1.weight": "vision_model.embeddings.patch_embedding.weight",
                   "positional_embedding": "vision_model.embeddings.position_embedding.weight",
                   "ln_pre.weight": "vision_model.pre_layrnorm.weight", "ln_pre.bias": "vision_model.pre_layrnorm.bias",
                   "ln_post.weight": "vision_model.post_layernorm.weight",
                   "ln_post.bias": "vision_model.post_layernorm.bias"}


class ClipVisionError(CheckpointError):
    """A file given as a CLIP vision model is something else or a layout we cannot read; the message says which."""


def load_clip_vision(path: str | Path, prefix: str = "") -> ClipVision:
    """The CLIP vision model in `path` (.safetensors, or a pickle of plain tensors), on the device the manager picks;
    `prefix` names where it is inside a larger file (UNCLIP_PREFIX in an unCLIP checkpoint)."""
    path = Path(path)
    with open_checkpoint_file(path) as opened:
        try:
            layout = detect_clip_vision(opened.shapes, prefix)
        except NotClipVision as error:
            if prefix:
                raise ClipVisionError(path, f"{path} holds no CLIP vision model under {prefix}* ({error}): it is "
                                            f"not an unCLIP checkpoint. Load it with Load Checkpoint "
                                            f"(CheckpointLoaderSimple), or load an image encoder with Load CLIP "
                                            f"Vision.") from None
            raise _not_clip_vision(path, opened.shapes, opened.metadata, str(error)) from None
        manager = model_manager()
        device = manager.load_device(path.stat().st_size)
        module = build_clip_vision(layout, LazyWeights(opened, device, manager.weight_dtype()), path, device)
    manager.track(module, f"{path.name} CLIP vision")
    return ClipVision(module=module, layout=layout, source=path.name)


def build_clip_vision(layout: ClipVisionLayout, weights: Mapping[str, torch.Tensor], path: Path,
                      device: torch.device) -> torch.nn.Module:
    """The tower `layout` describes, filled from `weights` (already on `device`, in their dtype)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(**layout.config)
    if layout.projection:
        module = empty_module(lambda: CLIPVisionModelWithProjection(config))
    else:  # ComfyUI takes the pooled output as the image embedding then
        module = empty_module(lambda: _Unprojected(config))
    state_dict = clip_vision_state_dict(layout, weights)
    module = fill_module(module, state_dict, component="CLIP vision model", path=path, device=device)
    log.info("loaded %s: CLIP vision, %d layers of width %d, %s layout", path.name, config.num_hidden_layers,
             config.hidden_size, layout.layout)
    return module


class _Unprojected(torch.nn.Module):
    """A tower without projection, under the same names as CLIPVisionModelWithProjection's (`vision_model.`)."""

    def __init__(self, config) -> None:
        from transformers import CLIPVisionModel

        super().__init__()
        model = CLIPVisionModel(config)
        self.vision_model = getattr(model, "vision_model", model)

    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool = False):
        return self.vision_model(pixel_values=pixel_values, output_hidden_states=output_hidden_states)


def clip_vision_state_dict(layout: ClipVisionLayout, weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tower's weights named as in CLIPVisionModelWithProjection, whichever layout the file has."""
    keys = [key for key in weights if key.startswith(layout.prefix)]
    if layout.layout == "transformers":
        wanted = (layout.prefix + "vision_model.", layout.prefix + "visual_projection.")
        converted = {key[len(layout.prefix):]: weights[key] for key in keys if key.startswith(wanted)}
    else:
        converted = _open_clip_state_dict(layout, weights, keys)
    converted.pop("vision_model.embeddings.position_ids", None)  # some files keep it; the module computes it
    return converted


def _open_clip_state_dict(layout: ClipVisionLayout, weights: Mapping[str, torch.Tensor],
                          keys: list[str]) -> dict[str, torch.Tensor]:
    width = layout.config["hidden_size"]
    blocks = layout.prefix + "transformer.resblocks."
    converted: dict[str, torch.Tensor] = {}
    for key in keys:
        name = key[len(layout.prefix):]
        if name in OPEN_CLIP_NAMES:
            value = weights[key]
            converted[OPEN_CLIP_NAMES[name]] = value.flatten() if name == "class_embedding" else value
        elif name == "proj":  # OpenCLIP multiplies x @ P; a Linear layer stores P transposed
            converted["visual_projection.weight"] = weights[key].t().contiguous()
        elif key.startswith(blocks):
            index, rest = key[len(blocks):].split(".", 1)
            converted.update(_open_clip_layer(f"vision_model.encoder.layers.{index}.", rest, weights[key], width))
    return converted


def _not_clip_vision(path: Path, shapes, metadata, found: str) -> ClipVisionError:
    kind = classify_file(shapes, metadata, str(path))
    if kind.kind == "checkpoint" and any(key.startswith("embedder.model.visual.") for key in shapes):
        return ClipVisionError(path, f"{path} is an unCLIP checkpoint: load it with unCLIPCheckpointLoader, whose "
                                     f"CLIP_VISION output is its image encoder.")
    if kind.kind != "unknown":
        return ClipVisionError(path, f"{path} is {kind.description}, not a CLIP vision model: {kind.advice}")
    return ClipVisionError(path, f"{path} is not a CLIP vision model Latentloom can load: {found}.")
