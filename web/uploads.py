"""Uploaded images: they must decode with Pillow within size and pixel limits (every frame counted), and get a
safe name whose extension matches the format Pillow read (a PNG sent as cat.html is stored as cat.png)."""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

from PIL import Image

from graph_engine.image_frames import frame_pixels
from graph_engine.partial_files import UPLOADING, partial_file

from .replies import BadRequest

_UNSAFE = re.compile(r"[^A-Za-z0-9._\- ()\[\]+,@=]")

# the extensions kept for the formats people upload, the usual one first; other formats Pillow reads keep the
# extensions Pillow registers for them. MPO is how Pillow reads many cameras' JPEG files.
_USUAL_EXTENSIONS = {"PNG": (".png", ".apng"), "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"),
                     "MPO": (".jpg", ".jpeg", ".jpe", ".jfif", ".mpo"), "WEBP": (".webp",), "GIF": (".gif",),
                     "BMP": (".bmp",), "TIFF": (".tif", ".tiff")}


def safe_file_name(name: str) -> str:
    """The last part of a client's file name, with only plain characters; never empty, never hidden."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    return base[:180] or "upload.png"


def image_extensions(image_format: str) -> tuple[str, ...]:
    """The extensions a file of this Pillow format may be stored under, the usual one first."""
    if image_format in _USUAL_EXTENSIONS:
        return _USUAL_EXTENSIONS[image_format]
    return tuple(ext for ext, owner in Image.registered_extensions().items() if owner == image_format)


def stored_name(client_name: str, image_format: str) -> str:
    """The client's safe file name with an extension of the format Pillow read: its own when that is one of the
    format's (photo.jpeg stays photo.jpeg), else the format's usual one (cat.html -> cat.png, x.png -> x.jpg)."""
    name = safe_file_name(client_name)
    extensions = image_extensions(image_format)
    if not extensions:
        raise BadRequest(f"the upload is a {image_format} image, which has no image file extension: upload PNG, "
                         "JPEG, WebP, GIF, BMP or TIFF", kind="invalid_image")
    stem, extension = os.path.splitext(name)
    if extension.lower() in extensions:
        return name
    return (stem or "upload") + extensions[0]


def _too_large(what: str, max_pixels: int) -> BadRequest:
    return BadRequest(f"the image is {what}: more than the limit of {max_pixels} pixels", status=413,
                      kind="image_too_large")


def checked_image(data: bytes, max_pixels: int, what: str = "the upload") -> Image.Image:
    """The decoded first frame (its `format` says what Pillow read); BadRequest when the bytes are not an image
    or its frames hold more pixels than the limit, counted from the headers before any frame is decoded. `what`
    names the bytes in the message ("the upload", "'cat.png'")."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            counted = frame_pixels(probe)
            if counted.pixels > max_pixels:
                raise _too_large(counted.describe(), max_pixels)
            probe.verify()
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except BadRequest:
        raise
    except Image.DecompressionBombError:
        raise _too_large("too large for Pillow to open safely", max_pixels) from None
    except (OSError, EOFError, SyntaxError, ValueError) as exc:
        raise BadRequest(f"{what} is not an image Pillow can read ({type(exc).__name__})",
                         kind="invalid_image") from None


def free_name(folder: Path, name: str, overwrite: bool) -> str:
    """`name`, or ComfyUI's 'stem (1).ext' numbering when a file of that name exists and may not be replaced."""
    if overwrite or not (folder / name).exists():
        return name
    stem, suffix = os.path.splitext(name)
    counter = 1
    while (folder / f"{stem} ({counter}){suffix}").exists():
        counter += 1
    return f"{stem} ({counter}){suffix}"


def write_atomically(folder: Path, name: str, data: bytes) -> None:
    """Write to a hidden temporary file then rename, so a reader never sees half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    with partial_file(folder, UPLOADING) as temporary:
        with open(temporary, "wb") as stream:
            stream.write(data)
        os.replace(temporary, folder / name)
