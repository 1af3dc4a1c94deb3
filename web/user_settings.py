"""The frontend's settings, one JSON object kept in `user/default/comfy.settings.json` as ComfyUI keeps it.

A single-user server: ComfyUI's frontend reads and writes its settings here, and without them every visit is a first
visit. A file that is not a JSON object (hand-edited, cut short) is moved aside under a name that says so, never
overwritten, and the settings start empty.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from .uploads import write_atomically

log = logging.getLogger(__name__)

SETTINGS_FILE = "comfy.settings.json"
DEFAULT_USER = "default"


def settings_path(user_folder: Path) -> Path:
    return user_folder / DEFAULT_USER / SETTINGS_FILE


def read_settings(user_folder: Path) -> dict[str, Any]:
    """The settings object; {} when there is none yet, or when the file was unreadable (then moved aside)."""
    path = settings_path(user_folder)
    try:
        settings = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (ValueError, RecursionError) as error:  # not JSON (UnicodeDecodeError is a ValueError too)
        return _set_aside(path, f"it is not valid JSON ({error})")
    if not isinstance(settings, dict):
        return _set_aside(path, f"it holds a JSON {type(settings).__name__}, not an object")
    return settings


def update_settings(user_folder: Path, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge `changes` into the stored settings and write them whole (a reader never sees half a file)."""
    settings = {**read_settings(user_folder), **changes}
    path = settings_path(user_folder)
    write_atomically(path.parent, path.name, json.dumps(settings, indent=4).encode())
    return settings


def _set_aside(path: Path, reason: str) -> dict[str, Any]:
    kept = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
    path.replace(kept)
    log.warning("the settings file %s could not be read: %s; it was kept as %s and the settings start empty",
                path, reason, kept.name)
    return {}
