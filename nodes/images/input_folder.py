"""Image files in the input folder: which names LoadImage lists, and safe lookup of a named one."""
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


def strip_annotation(name: str) -> str:
    """ComfyUI lets a name end in ' [input]'; that is the only folder LoadImage reads."""
    return name[: -len(" [input]")] if name.endswith(" [input]") else name


def find_input_file(folder: Path, name: str) -> Path:
    """The file `name` in `folder`, or ValueError/FileNotFoundError with a message a user can act on."""
    path = resolve_inside(folder, strip_annotation(name), "input folder")
    if not path.is_file():
        example = " (`latentloom demo-model` writes it: the picture the shipped workflows read)" \
            if name == EXAMPLE_IMAGE_NAME else ""
        raise MissingFile(f"Invalid image file: '{name}' is not in the input folder {folder}: put the file "
                          f"there or upload it{example}")
    return path


def find_output_image(folder: Path, name: str) -> Path:
    """LoadImageOutput's lookup: `name` (maybe ending in ' [output]', as ComfyUI's editor lists saved images) in the
    output folder `folder`, or ValueError/FileNotFoundError with a message a user can act on."""
    path = resolve_inside(folder, name.removesuffix(" [output]"), "output folder")
    if not path.is_file():
        raise MissingFile(f"Invalid image file: '{name}' is not in the output folder {folder}: pick one of the saved "
                          f"images")
    return path
