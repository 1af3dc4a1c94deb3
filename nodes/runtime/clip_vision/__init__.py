"""CLIP vision towers (image encoders for unCLIP, style models and IP-adapters): detection from key shapes, loading
into transformers' CLIPVisionModelWithProjection, encoding images as ComfyUI does; and the style model that reads
their hidden states."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .detection import UNCLIP_PREFIX, ClipVisionLayout, NotClipVision, detect_clip_vision

if TYPE_CHECKING:
    from .loading import ClipVisionError, build_clip_vision, load_clip_vision
    from .model import ClipVision, ClipVisionOutput, clip_preprocess
    from .style_model import StyleModel, StyleModelError, load_style_model

# These import torch, so they load on first use: importing this package stays cheap.
_LAZY = {"ClipVisionError": "loading", "build_clip_vision": "loading", "load_clip_vision": "loading",
         "ClipVision": "model", "ClipVisionOutput": "model", "clip_preprocess": "model",
         "StyleModel": "style_model", "StyleModelError": "style_model", "load_style_model": "style_model"}

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = ["UNCLIP_PREFIX", "ClipVisionLayout", "NotClipVision", "detect_clip_vision", *sorted(_LAZY)]
