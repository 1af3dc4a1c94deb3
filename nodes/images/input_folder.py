"""Image files in the input (or output) folder: which names the loaders list, and safe lookup of a named one."""
from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import Callable

from graph_engine import MissingFile
from graph_engine.folders import is_inside, resolve_inside

EXAMPLE_IMAGE_NAME = "example.png"  # what workflows/img2img.json and inpaint.json read, as ComfyUI's examples do

# mimetypes misses some of these on a few platforms
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def is_image_name(name: str) -> bool:
    guessed, _ = mimetypes.guess_type(name)
    return (guessed or "").startswith("image/") or Path(name).suffix.lower() in _IMAGE_SUFFIXES


def list_input_files(folder: Path, accept: Callable[[str], bool]) -> list[str]:
    """The files directly in `folder` whose names `accept` takes, sorted (as ComfyUI's loaders list them); links
    out of it are left out."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    return sorted(name for name in entries
                  if accept(name) and (folder / name).is_file() and is_inside(folder, folder / name))


def list_images(folder: Path) -> list[str]:
    """Image files directly in `folder`, as LoadImage lists them."""
    return list_input_files(folder, is_image_name)


def strip_annotation(name: str, kind: str = "input") -> str:
    """ComfyUI lets a name end in ' [input]' (' [output]' for LoadImageOutput): the folder the loader reads anyway."""
    suffix = f" [{kind}]"
    return name[: -len(suffix)] if name.endswith(suffix) else name


def find_image_file(folder: Path, name: str, kind: str = "input") -> Path:
    """The file `name` in `folder` (the installation's `kind` folder, "input" or "output"), or
    ValueError/FileNotFoundError with a message a user can act on."""
    path = resolve_inside(folder, strip_annotation(name, kind), f"{kind} folder")
    if not path.is_file():
        example = " (`latentloom demo-model` writes it: the picture the shipped workflows read)" \
            if name == EXAMPLE_IMAGE_NAME and kind == "input" else ""
        remedy = "put the file there or upload it" if kind == "input" else "pick one of the saved images"
        raise MissingFile(f"Invalid image file: '{name}' is not in the {kind} folder {folder}: {remedy}{example}")
    return path
