"""ControlNets and T2I-Adapters: detect and load their files, and the control objects sampling asks for residuals."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .detection import ControlLayout, UnsupportedControlModel, detect_control_layout
from .errors import ControlNetError

if TYPE_CHECKING:
    from .controls import ControlBase, ControlNet, T2IAdapter
    from .loader import load_control_model

# These import torch, so they load on first use: importing this package stays cheap.
_LAZY = {"load_control_model": "loader", "ControlBase": "controls", "ControlNet": "controls",
         "T2IAdapter": "controls"}

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = ["ControlLayout", "UnsupportedControlModel", "detect_control_layout", "ControlNetError",
           "load_control_model", "ControlBase", "ControlNet", "T2IAdapter"]
