"""ComfyUI's `comfy.clip_vision` for plugins: `load` gives the value on Latentloom's CLIP_VISION wires
(`ClipVisionModel`, isinstance works), whose `encode_image` gives what CLIPVisionEncode gives (`Output`), and
`clip_preprocess` is the preprocessing that encoding uses."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from nodes.comfy_compat.not_offered import attribute_not_offered
from nodes.runtime.clip_vision.detection import IMAGE_MEAN, IMAGE_STD
from nodes.runtime.clip_vision.loading import load_clip_vision
from nodes.runtime.clip_vision.model import ClipVision as ClipVisionModel
from nodes.runtime.clip_vision.model import ClipVisionOutput as Output
from nodes.runtime.clip_vision.model import clip_preprocess as _preprocess

if TYPE_CHECKING:
    import torch


def load(ckpt_path: str | Path) -> ClipVisionModel:
    """The CLIP vision model in a file, in transformers' layout or OpenCLIP's (visual.*), as CLIPVisionLoader loads
    it; a file that is something else is refused with a message saying what it is."""
    return load_clip_vision(ckpt_path)


def clip_preprocess(image: "torch.Tensor", size: int = 224, mean: Sequence[float] = IMAGE_MEAN,
                    std: Sequence[float] = IMAGE_STD, crop: bool = True) -> "torch.Tensor":
    """IMAGE [batch, height, width, channels] as the [batch, 3, size, size] normalised pixels a CLIP tower reads."""
    return _preprocess(image, size, crop=crop, mean=mean, std=std)


__all__ = ["ClipVisionModel", "Output", "clip_preprocess", "load"]

__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
