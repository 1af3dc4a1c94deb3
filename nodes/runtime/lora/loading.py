"""LoRA files from models/loras, read once per version of the file, applied to MODEL and CLIP as views."""
from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from graph_engine import current_folders

from model_library.file_identity import FileIdentity, file_identity
from model_library.folders import find_model
from model_library.hash_ahead import hash_ahead
from .bypass import with_bypass
from .key_map import lookup
from .lora_file import LoraError, LoraFile, check_family, read_lora
from .training_info import read_training_info
from .views import key_map_of

log = logging.getLogger(__name__)

_read: dict[Path, tuple[FileIdentity, LoraFile]] = {}


def lora_file(path: Path) -> LoraFile:
    """The parsed file; read again whenever the file was written or replaced since (see FileIdentity)."""
    version = file_identity(path)
    cached = _read.get(path)
    if cached is None or cached[0] != version:
        _read[path] = (version, read_lora(path))
    return _read[path][1]


def apply_lora(model: Any, clip: Any, lora_name: str, strength_model: float,
               strength_clip: float, bypass: bool = False) -> tuple[Any, Any]:
    """(MODEL, CLIP) views carrying the LoRA file of models/loras named `lora_name` (see apply_lora_file); its
    A1111 hash is computed in the background for the images saved later."""
    folders = current_folders()
    path = find_model(folders, "loras", lora_name)
    lora = lora_file(path)
    hash_ahead(folders, path)
    return apply_lora_file(model, clip, lora, strength_model, strength_clip, bypass)


def apply_lora_file(model: Any, clip: Any, lora: LoraFile, strength_model: float,
                    strength_clip: float, bypass: bool = False) -> tuple[Any, Any]:
    """(MODEL, CLIP) views carrying the LoRA, in their weights or, with `bypass`, as forward hooks (bypass.py); a
    strength of 0 leaves that side as it was, and so does None for either.

    Logs one line per load (file, format, base, rank, matched and unmatched layers, time); a LoRA that matches no
    layer of the model is an error, never a silent no-op."""
    started = time.perf_counter()
    name = lora.path.name if lora.path is not None else "the LoRA"
    target = model if model is not None else clip
    check_family(lora, target.architecture)
    maps = []
    if model is not None:
        maps.append(key_map_of(model.unet, model.unet, ()))
    if clip is not None:
        maps.append(key_map_of(clip.text_encoders[0], None, clip.text_encoders))
    unmatched = [key for key in lora.patches if all(lookup(m, key) is None for m in maps)]
    matched = len(lora.patches) - len(unmatched)
    if matched == 0:
        raise LoraError(lora.path, f"{name}: none of its {len(lora.patches)} layers matches a layer of "
                                   f"{target.source} ({target.architecture}). It is probably a LoRA for another "
                                   f"model family (the file says: {lora.family or 'not stated'}), or not a LoRA at "
                                   "all.")
    if unmatched:
        log.debug("LoRA %s: layers that match nothing in %s: %s", name, target.source, unmatched)
    ranks = Counter(patch.rank for patch in lora.patches.values() if patch.rank is not None)
    log.info("LoRA %s: %s, for %s, rank %s, %d layers matched, %d unmatched, %.0f ms%s", name,
             describe_format(lora), lora.family or "an unstated base", ranks.most_common(1)[0][0] if ranks else "-",
             matched, len(unmatched), (time.perf_counter() - started) * 1000, _trigger_note(lora))
    if model is not None and strength_model:
        model = with_bypass(model, lora, strength_model) if bypass else model.with_lora(lora, strength_model)
    if clip is not None and strength_clip:
        clip = with_bypass(clip, lora, strength_clip) if bypass else clip.with_lora(lora, strength_clip)
    return model, clip


def _trigger_note(lora: LoraFile) -> str:
    """A LoRA that "does nothing" usually lacks its trigger words in the prompt: name them in the load line."""
    training = read_training_info(lora.metadata)
    if training is None or not (training.trigger_words or training.top_tags):
        return ""
    if training.trigger_words:
        return f"; trigger words: {', '.join(training.trigger_words)}"
    return f"; most frequent training tags: {', '.join(training.top_tags[:5])}"


def describe_format(lora: LoraFile) -> str:
    """e.g. "kohya LoRA", "diffusers/PEFT LoRA", "kohya LoHa+DoRA"."""
    keys = list(lora.patches)
    naming = "kohya" if any(key.startswith("lora_") for key in keys) else "diffusers/PEFT"
    kinds = sorted({patch.kind for patch in lora.patches.values()})
    names = {"lora": "LoRA", "loha": "LoHa", "lokr": "LoKr"}
    dora = "+DoRA" if any(patch.dora_scale is not None for patch in lora.patches.values()) else ""
    return f"{naming} {'/'.join(names.get(kind, kind) for kind in kinds)}{dora}"
