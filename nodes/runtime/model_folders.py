"""Where model files live (models/checkpoints, vae, loras, embeddings), listed for combo inputs and found safely.

Node classes list files in INPUT_TYPES, outside any run, so the folder is process-wide: start-up calls
`set_models_folder` with the installation's models folder; inside a run the engine's own folders win. Listings are read from disk on every call, so a file
dropped into a folder shows up after the registry's refresh, without a restart. Names are paths relative to their
folder with "/" separators, as ComfyUI lists them; a name may never lead outside its folder.
"""
from __future__ import annotations

import os
from pathlib import Path

from graph_engine import current_context
from graph_engine.folders import is_inside, resolve_inside

from .checkpoints.checkpoint_file import MODEL_SUFFIXES

KINDS = ("checkpoints", "vae", "loras", "embeddings")
DIFFUSERS_INDEX = "model_index.json"  # a diffusers-format model folder lists as one checkpoint

_models_folder: Path | None = None


def set_models_folder(path: str | os.PathLike) -> None:
    """The installation's models folder; its subfolders are named after the kinds."""
    global _models_folder
    _models_folder = Path(path).resolve()


def models_folder() -> Path:
    """The running engine's models folder during a run; else the one set at start-up, else ./models."""
    context = current_context()
    if context is not None:
        return context.folders.models
    return _models_folder if _models_folder is not None else Path("models").resolve()


def kind_folder(kind: str) -> Path:
    if kind not in KINDS:
        raise ValueError(f"unknown model kind '{kind}'; the kinds are {', '.join(KINDS)}")
    return models_folder() / kind


def list_models(kind: str) -> list[str]:
    """Model files (and, for checkpoints, diffusers folders) under the kind's folder, sorted, "/"-separated.

    Symbolic links that lead outside the folder are left out, as find_model would refuse them.
    """
    root = kind_folder(kind)
    names = []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        if not is_inside(root, folder):
            subfolders.clear()
            continue
        relative = Path(folder).relative_to(root)
        if kind == "checkpoints" and DIFFUSERS_INDEX in files and folder != str(root):
            names.append(relative.as_posix())
            subfolders.clear()  # its unet/, vae/ ... are parts, not models
            continue
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        names.extend((relative / name).as_posix() for name in files
                     if name.lower().endswith(MODEL_SUFFIXES) and not name.startswith(".")
                     and is_inside(root, os.path.join(folder, name)))
    return sorted(names, key=str.lower)


def find_model(kind: str, name: str) -> Path:
    """The path of model `name` of `kind`; FileNotFoundError or ValueError with a message a beginner can act on."""
    root = kind_folder(kind)
    target = resolve_inside(root, name, f"{kind} folder")
    if not os.path.exists(target):
        raise FileNotFoundError(f"'{name}' is not in the {kind} folder: put the file in {root} "
                                f"(the list of files refreshes without a restart)")
    return target


def model_file_state(kind: str, name: str) -> str:
    """A loader's IS_CHANGED: changes when the file is replaced, so a new download of the same name loads again."""
    try:
        stat = os.stat(find_model(kind, name))
    except (OSError, ValueError):
        return name  # validation reports the missing file
    return f"{name}:{stat.st_size}:{stat.st_mtime_ns}"
