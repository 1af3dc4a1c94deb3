"""ComfyUI's `comfy.utils` for plugins: ProgressBar on the running node's progress, resizing and safe file reading."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph_engine import current_context
from nodes.comfy_compat.not_offered import attribute_not_offered

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


class ProgressBar:
    """Progress of the running node, sent as ComfyUI's `progress` message; raises when the user interrupted."""

    def __init__(self, total: int, node_id: str | None = None) -> None:
        self.total = total
        self.current = 0
        self.node_id = node_id  # ComfyUI's; progress is always the running node's here

    def update_absolute(self, value: int, total: int | None = None, preview: Any = None) -> None:
        """`preview` may be ComfyUI's ("JPEG", PIL image, max size) or a PIL image."""
        if total is not None:
            self.total = total
        self.current = min(value, self.total)
        context = current_context()
        if context is None:
            return  # called outside a run (a plugin's own test): nothing to report to
        image = preview[1] if isinstance(preview, tuple) else preview
        context.progress(self.current, self.total, image)

    def update(self, value: int) -> None:
        self.update_absolute(self.current + value)


def common_upscale(samples: "torch.Tensor", width: int, height: int, upscale_method: str,
                   crop: str) -> "torch.Tensor":
    """Resize channel-first samples [B, C, H, W] as ImageScale and LatentUpscale do (crop "disabled"/"center")."""
    from nodes.latent.resize import resize

    return resize(samples, width, height, upscale_method, crop)


def load_torch_file(ckpt: str, safe_load: bool = False, device: Any = None,
                    return_metadata: bool = False) -> Any:
    """The tensors of a .safetensors or pickle model file (pickles always with weights_only, whatever safe_load
    says: a file that needs code to load is refused); with return_metadata, (tensors, metadata or None)."""
    from model_library.kinds import SAFETENSORS_SUFFIXES
    from nodes.runtime.checkpoints.checkpoint_file import read_all_tensors
    from nodes.runtime.checkpoints.pickle_reader import load_pickle_tensors

    path = Path(ckpt)
    target = str(device) if device is not None else "cpu"
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        tensors, metadata = read_all_tensors(path)  # never mapped: the file may be rewritten while in use
    else:
        tensors, metadata = load_pickle_tensors(path), None
    if target != "cpu":
        tensors = {key: tensor.to(target) for key, tensor in tensors.items()}
    return (tensors, metadata) if return_metadata else tensors


__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
