"""LoRA files from models/loras, read once per version of the file, applied to MODEL and CLIP as views."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..model_folders import find_model
from .lora_file import LoraFile, check_family, read_lora

log = logging.getLogger(__name__)

_read: dict[Path, tuple[tuple[int, int], LoraFile]] = {}


def lora_file(path: Path) -> LoraFile:
    """The parsed file; read again only when its size or modification time changed."""
    stat = os.stat(path)
    version = (stat.st_size, stat.st_mtime_ns)
    cached = _read.get(path)
    if cached is None or cached[0] != version:
        _read[path] = (version, read_lora(path))
        log.info("read LoRA %s (%d layers, for %s)", path.name, len(_read[path][1].patches),
                 _read[path][1].family or "an unknown family")
    return _read[path][1]


def apply_lora(model: Any, clip: Any, lora_name: str, strength_model: float,
               strength_clip: float) -> tuple[Any, Any]:
    """(MODEL, CLIP) views carrying the LoRA; a strength of 0 leaves that side as it was."""
    lora = lora_file(find_model("loras", lora_name))
    check_family(lora, model.architecture)
    if strength_model:
        model = model.with_lora(lora, strength_model)
    if clip is not None and strength_clip:
        clip = clip.with_lora(lora, strength_clip)
    return model, clip
