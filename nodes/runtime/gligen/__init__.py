"""GLIGEN (grounded generation: phrases placed in boxes): the file layout, the networks, the loader, and the
transformer-block patch that applies it while sampling."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .layout import MAX_OBJECTS, GligenLayout, NotAGligenLayout, read_gligen_layout

if TYPE_CHECKING:
    from .loader import Gligen, GligenError, load_gligen
    from .patch import grounding_tokens, middle_patches, with_grounding

# These import torch, so they load on first use: importing this package stays cheap.
_LAZY = {"Gligen": "loader", "GligenError": "loader", "load_gligen": "loader",
         "grounding_tokens": "patch", "middle_patches": "patch", "with_grounding": "patch"}

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = ["MAX_OBJECTS", "GligenLayout", "NotAGligenLayout", "read_gligen_layout", *sorted(_LAZY)]
