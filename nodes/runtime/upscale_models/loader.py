"""Load an upscale model file: detect the architecture from its keys and shapes, build the module on meta, fill it
from the file, and hand it to the memory manager."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoints import CheckpointError, classify_file, open_checkpoint_file
from ..checkpoints.meta_modules import empty_module, fill_module
from ..devices import model_manager
from .compact import SRVGGNetCompact
from .detection import RRDBNetConfig, UnknownUpscaleLayout, UpscaleConfig, detect_upscale_model
from .rrdbnet import RRDBNet

log = logging.getLogger(__name__)
# ComfyUI runs these in float32 (their activations overflow float16 on some images), so we do too.
UPSCALE_DTYPE = torch.float32


class UpscaleModelError(CheckpointError):
    """A file given as an upscale model is something else or a layout we cannot read; the message says which."""


@dataclass(eq=False)
class UpscaleModel:
    """The value on an UPSCALE_MODEL wire: the module and what it is. Plugins written for ComfyUI treat it as a
    spandrel model descriptor (`.model`, `.scale`, `.input_channels`, `.device`, `.to()`, called on a
    [batch, channels, height, width] tensor), so it answers those too."""

    module: torch.nn.Module
    config: UpscaleConfig
    layout: str
    source: str

    @property
    def scale(self) -> int:
        return self.config.scale

    @property
    def model(self) -> torch.nn.Module:
        return self.module

    @property
    def input_channels(self) -> int:
        return self.config.in_channels

    @property
    def output_channels(self) -> int:
        return self.config.out_channels

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

    def to(self, *args, **kwargs) -> "UpscaleModel":
        """Move the module (a plugin's `upscale_model.to(device)`); the memory manager still tracks it."""
        self.module.to(*args, **kwargs)
        return self

    def eval(self) -> "UpscaleModel":
        self.module.eval()
        return self

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """The upscaled [batch, channels, height*scale, width*scale] image, in one piece."""
        with torch.no_grad():
            return self.module(image.to(self.device, self.dtype))

    def __repr__(self) -> str:
        return f"UpscaleModel({self.source}: {self.config.name}, {self.scale}x)"


def build_upscale_module(config: UpscaleConfig) -> torch.nn.Module:
    """An empty module (parameters on meta) for `config`."""
    kind = RRDBNet if isinstance(config, RRDBNetConfig) else SRVGGNetCompact
    return empty_module(lambda: kind(config))


def load_upscale_model(path: str | Path) -> UpscaleModel:
    """The model in `path` (.safetensors, or a pickle of plain tensors), on the device the manager picks."""
    path = Path(path)
    with open_checkpoint_file(path) as opened:
        try:
            detected = detect_upscale_model(opened.shapes)
        except UnknownUpscaleLayout as error:
            raise _not_an_upscale_model(path, opened.shapes, opened.metadata, str(error)) from None
        manager = model_manager()
        device = manager.load_device(sum(_bytes(opened.shapes[key]) for key in detected.renames))
        weights = {name: opened.tensor(stored).to(device=device, dtype=UPSCALE_DTYPE)
                   for stored, name in detected.renames.items()}
    module = fill_module(build_upscale_module(detected.config), weights, component="upscale model", path=path,
                         device=device)
    manager.track(module, f"{path.name} upscale model")
    log.info("loaded %s: %s, %dx, %s", path.name, detected.config.name, detected.config.scale, detected.layout)
    return UpscaleModel(module=module, config=detected.config, layout=detected.layout, source=path.name)


def _bytes(shape) -> int:
    count = 4  # float32
    for size in shape:
        count *= size
    return count


def _not_an_upscale_model(path: Path, shapes, metadata, found: str) -> UpscaleModelError:
    kind = classify_file(shapes, metadata, str(path))
    if kind.kind not in ("unknown", "upscale_model"):
        return UpscaleModelError(path, f"{path} is {kind.description}, not an upscale model: {kind.advice}")
    return UpscaleModelError(path, f"{path} is not an upscale model Latentloom can load: {found}.")
