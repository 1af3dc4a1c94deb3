"""Text encoders saved on their own (models/text_encoders, models/clip), as ComfyUI's CLIPLoader and DualCLIPLoader
read them: CLIP-L for SD1.x, OpenCLIP ViT-H for SD2.x, CLIP-L with OpenCLIP bigG for SDXL.

A file holds one encoder in transformers' layout (`text_model.*`, as Hugging Face and ComfyUI distribute them) or
OpenCLIP's (`transformer.resblocks.*`), bare or under the prefix it had in a checkpoint. Which encoder it is follows
the published widths (CLIP-L 768, ViT-H 1024, bigG 1280); for other widths (small test models), the layout and the
loader decide: a lone OpenCLIP file is SD2.x's encoder, and of an SDXL pair the OpenCLIP one is bigG.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .architecture import ENCODERS, Architecture, CheckpointArchitecture, TextEncoderSpec, survey
from .checkpoint_file import CheckpointFile, open_checkpoint_file
from .components import build_text_encoder
from .conversion import LazyWeights
from .errors import MisplacedModelError, UnknownArchitectureError
from .families import foreign_family
from .file_kinds import UNET_PREFIX, classify_file
from .text_encoder_config import infer_clip_config, infer_open_clip_config
from .unet_config import LayoutError

log = logging.getLogger(__name__)

Shapes = Mapping[str, Sequence[int]]

# where a lone encoder's weights start: bare, or under the prefix it had in an SD1.x, SD2.x or SDXL checkpoint
PREFIXES = ("", "cond_stage_model.transformer.", "cond_stage_model.model.", "conditioner.embedders.0.transformer.",
            "conditioner.embedders.1.model.")
CLIP_L_WIDTH, OPEN_CLIP_H_WIDTH, BIG_G_WIDTH = 768, 1024, 1280
WHERE_IT_GOES = "models/text_encoders (or models/clip), loaded with Load CLIP (CLIPLoader)"


@dataclass(frozen=True)
class LoneTextEncoder:
    """One text encoder found in a file: where its weights start, their layout and the CLIPTextConfig arguments."""

    path: Path
    prefix: str
    layout: str  # "transformers" or "open_clip"
    config: dict
    has_projection: bool  # carries the pooled-output projection SDXL's bigG needs

    @property
    def width(self) -> int:
        return self.config["hidden_size"]

    @property
    def words(self) -> str:
        """What it is, for messages."""
        return f"a {self.layout} text encoder of width {self.width} ({self.path.name})"


def read_text_encoder(checkpoint: CheckpointFile) -> LoneTextEncoder:
    """The encoder in an open file; raises, saying what the file is and where it goes, when it holds none."""
    shapes, path = checkpoint.shapes, checkpoint.path
    _refuse_non_text_encoder(checkpoint)
    for prefix in PREFIXES:
        try:
            if any(key.startswith(prefix + "transformer.resblocks.") for key in shapes):
                config = infer_open_clip_config(shapes, prefix)
                return LoneTextEncoder(path, prefix, "open_clip", config, prefix + "text_projection" in shapes)
            transformers_layers = (prefix + "text_model.encoder.layers.", prefix + "encoder.layers.")
            if any(key.startswith(transformers_layers) for key in shapes):
                return _transformers_encoder(path, shapes, prefix)
        except LayoutError as error:
            raise UnknownArchitectureError(path, f"{path}: the text encoder cannot be read ({error}).") from None
    raise UnknownArchitectureError(path, f"{path} is not a CLIP text encoder (no text_model.encoder.* or "
                                         f"transformer.resblocks.* weights). Recognised: {'; '.join(survey(shapes))}.")


def sd_text_encoder_specs(encoders: Sequence[LoneTextEncoder]
                          ) -> tuple[Architecture, tuple[tuple[TextEncoderSpec, LoneTextEncoder], ...]]:
    """The family, and each encoder with its spec in conditioning order, of one SD1.x/SD2.x encoder or an SDXL
    pair."""
    if len(encoders) == 1:
        (encoder,) = encoders
        if encoder.width == BIG_G_WIDTH:
            raise UnknownArchitectureError(encoder.path, f"{encoder.path} is OpenCLIP bigG, SDXL's second text "
                                                         f"encoder: load it with DualCLIPLoader (type sdxl) "
                                                         f"together with a CLIP-L.")
        second = encoder.layout == "open_clip" or encoder.width == OPEN_CLIP_H_WIDTH
        architecture = Architecture.SD2 if second else Architecture.SD1
        return architecture, ((_spec(architecture, 0, encoder), encoder),)
    pair = _sdxl_pair(encoders)
    return Architecture.SDXL, tuple((_spec(Architecture.SDXL, index, encoder), encoder)
                                    for index, encoder in enumerate(pair))


def load_text_encoder_files(paths: Sequence[str | Path], device: str | torch.device = "cpu",
                            dtype: torch.dtype = torch.float32) -> tuple[CheckpointArchitecture, tuple]:
    """Detect and build the encoder(s) in `paths` (one file for SD1.x/SD2.x, two for SDXL, in any order): the
    detected architecture (no UNet or VAE config) and the modules, in its encoders' order."""
    device = torch.device(device)
    found = []
    for path in paths:
        with open_checkpoint_file(path) as checkpoint:
            found.append(read_text_encoder(checkpoint))
    architecture, planned = sd_text_encoder_specs(found)
    modules = []
    for spec, encoder in planned:
        with open_checkpoint_file(encoder.path) as checkpoint:
            modules.append(build_text_encoder(spec, LazyWeights(checkpoint, device, dtype), checkpoint.path, device))
    log.info("loaded %s text encoder(s) from %s", architecture, ", ".join(Path(p).name for p in paths))
    specs = tuple(spec for spec, _ in planned)
    return CheckpointArchitecture(architecture, {}, {}, specs), tuple(modules)


def _transformers_encoder(path: Path, shapes: Shapes, prefix: str) -> LoneTextEncoder:
    config = infer_clip_config(shapes, prefix)
    projection = shapes.get(prefix + "text_projection.weight")
    if config["hidden_size"] in (OPEN_CLIP_H_WIDTH, BIG_G_WIDTH):
        config["hidden_act"] = "gelu"  # OpenCLIP's encoders saved in transformers' layout keep their activation
    if projection is not None:
        config["projection_dim"] = int(projection[0])
    return LoneTextEncoder(path, prefix, "transformers", config, projection is not None)


def _sdxl_pair(encoders: Sequence[LoneTextEncoder]) -> tuple[LoneTextEncoder, LoneTextEncoder]:
    """(CLIP-L, bigG) of two encoders in either order."""
    if len(encoders) != 2:
        raise ValueError(f"one or two text encoders, not {len(encoders)}")
    first, second = encoders
    for is_big_g in (lambda e: e.width == BIG_G_WIDTH, lambda e: e.layout == "open_clip"):
        if is_big_g(first) != is_big_g(second):
            big_g, clip_l = (first, second) if is_big_g(first) else (second, first)
            break
    else:
        raise UnknownArchitectureError(first.path, f"SDXL needs a CLIP-L and an OpenCLIP bigG text encoder; "
                                                   f"{first.words} and {second.words} cannot be told apart as "
                                                   f"those two.")
    if clip_l.width in (OPEN_CLIP_H_WIDTH, BIG_G_WIDTH) or not big_g.has_projection:
        raise UnknownArchitectureError(big_g.path, f"SDXL needs a CLIP-L and an OpenCLIP bigG text encoder with "
                                                   f"its projection; got {clip_l.words} and {big_g.words}"
                                                   f"{'' if big_g.has_projection else ' without a projection'}.")
    return clip_l, big_g


def _spec(architecture: Architecture, index: int, encoder: LoneTextEncoder) -> TextEncoderSpec:
    """The checkpoint's spec for this family and position, with the file's own prefix, layout and config."""
    name, _prefix, _layout, with_projection, hidden_layer, final_norm = ENCODERS[architecture][index]
    return TextEncoderSpec(name, encoder.prefix, encoder.layout, with_projection, encoder.config, hidden_layer,
                           final_norm)


def _refuse_non_text_encoder(checkpoint: CheckpointFile) -> None:
    shapes, path = checkpoint.shapes, checkpoint.path
    foreign = foreign_family(shapes)
    if foreign is not None:
        raise UnknownArchitectureError(path, f"{path} is {foreign.description}: {foreign.unsupported}.")
    found = classify_file(shapes, checkpoint.metadata, str(path))
    if found.kind in ("text_encoder", "unknown") and not any(key.startswith(UNET_PREFIX) for key in shapes):
        return
    base = f" ({found.base})" if found.base and found.kind == "checkpoint" else ""
    raise MisplacedModelError(path, f"{path} is {found.description}{base}, not a text encoder alone (which goes "
                                    f"in {WHERE_IT_GOES}): {found.advice}", kind=found.kind)
