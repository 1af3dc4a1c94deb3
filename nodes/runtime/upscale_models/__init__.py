"""Image upscale models (ESRGAN/RealESRGAN RRDBNet, SRVGGNetCompact): detection from key shapes, the modules, the
loader and tiled inference."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .detection import (CompactConfig, DetectedUpscaleModel, RRDBNetConfig, UnknownUpscaleLayout, UpscaleConfig,
                        detect_upscale_model)

if TYPE_CHECKING:
    from .compact import SRVGGNetCompact
    from .loader import UpscaleModel, UpscaleModelError, build_upscale_module, load_upscale_model
    from .rrdbnet import RRDBNet
    from .tiling import tiled_upscale, upscale_images

# These import torch, so they load on first use: importing this package stays cheap.
_LAZY = {"UpscaleModel": "loader", "UpscaleModelError": "loader", "build_upscale_module": "loader",
         "load_upscale_model": "loader", "RRDBNet": "rrdbnet", "SRVGGNetCompact": "compact",
         "tiled_upscale": "tiling", "upscale_images": "tiling"}

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = ["CompactConfig", "DetectedUpscaleModel", "RRDBNetConfig", "UnknownUpscaleLayout", "UpscaleConfig",
           "detect_upscale_model", *sorted(_LAZY)]
