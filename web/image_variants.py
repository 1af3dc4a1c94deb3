"""Pictures made from an image file for ComfyUI's frontend: one channel of it (`/view?channel=`: the mask editor
reads the alpha as a picture), a lighter preview (`/view?preview=webp;90`), a model's preview as WebP."""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from .replies import BadRequest
from .uploads import checked_image

CHANNELS = ("rgb", "a", "rgba")
PREVIEW_FORMATS = {"webp": "WEBP", "jpeg": "JPEG"}
DEFAULT_QUALITY = 90
# the pictures looked for beside a model file, in order: <stem>.png ... then <stem>.preview.png ...
PREVIEW_SUFFIXES = tuple(f"{middle}{ext}" for middle in ("", ".preview") for ext in (".png", ".jpg", ".jpeg", ".webp"))


def read_channel(value: str | None) -> str:
    """The `channel` asked for; the whole picture (rgba) when none; BadRequest for anything else."""
    channel = (value or "rgba").lower()
    if channel not in CHANNELS:
        raise BadRequest(f"channel must be one of {', '.join(CHANNELS)}, not '{value}'", kind="invalid_channel")
    return channel


def read_preview(value: str) -> tuple[str, int]:
    """'webp', 'jpeg;80' ... as (format, quality); BadRequest naming the frontend setting that writes it."""
    image_format, _, quality_text = value.lower().partition(";")
    quality = int(quality_text) if quality_text.isdigit() else DEFAULT_QUALITY if not quality_text else -1
    if image_format not in PREVIEW_FORMATS or not 1 <= quality <= 100:
        raise BadRequest(f"preview must be webp or jpeg with an optional quality from 1 to 100, such as 'webp;90', "
                         f"not '{value}' (the frontend's setting Comfy.PreviewFormat writes it)",
                         kind="invalid_preview_format")
    return image_format, quality


def open_image(path: Path, max_pixels: int) -> Image.Image:
    """The first frame of the picture at `path`, within the pixel limit; BadRequest when it is no picture."""
    return checked_image(path.read_bytes(), max_pixels, what=f"'{path.name}'")


def _has_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands() or "transparency" in image.info


def channel_of(image: Image.Image, channel: str) -> Image.Image:
    """rgb: the colours without alpha; a: the alpha as a black picture with that alpha (opaque when the image has
    none); rgba: the image itself."""
    if channel == "rgb":
        return image.convert("RGB")
    if channel == "a":
        alpha = image.convert("RGBA").getchannel("A") if _has_alpha(image) else Image.new("L", image.size, 255)
        picture = Image.new("RGBA", image.size)
        picture.putalpha(alpha)
        return picture
    return image


def encoded(image: Image.Image, image_format: str, quality: int = DEFAULT_QUALITY) -> bytes:
    """`image` as PNG, WebP or JPEG bytes (JPEG has no alpha: the colours are kept)."""
    pillow_format = PREVIEW_FORMATS.get(image_format, image_format.upper())
    if pillow_format == "JPEG" or image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if pillow_format != "JPEG" and _has_alpha(image) else "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=pillow_format, quality=quality)
    return buffer.getvalue()
