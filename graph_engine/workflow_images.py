"""Workflows carried inside images: the text chunks ComfyUI and AUTOMATIC1111 write into PNGs (and WEBPs).

ComfyUI's SaveImage writes `prompt` (API JSON, exactly what ran) and `workflow` (the editor's UI JSON); its animated
WEBP writer puts the same two as "prompt:{...}" and "workflow:{...}" EXIF strings. AUTOMATIC1111 writes one
`parameters` text. Pillow reads the chunks without decoding the pixels.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from .errors import WorkflowFormatError
from .workflow import Prompt

IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"RIFF")
COMFY_KEYS = ("prompt", "workflow")


def looks_like_image(path: str | Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(12)
    return head.startswith(IMAGE_SIGNATURES[0]) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP")


def _exif_texts(image: Any) -> dict[str, str]:
    """ComfyUI's WEBP form: EXIF string values "key:value"."""
    texts = {}
    for value in image.getexif().values():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, str):
            try:  # Pillow decodes EXIF strings as Latin-1; ComfyUI wrote UTF-8
                value = value.encode("latin-1").decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                pass
        if isinstance(value, str):
            key, sep, rest = value.partition(":")
            if sep and key in COMFY_KEYS:
                texts[key] = rest
    return texts


def read_image_texts(path: str | Path) -> dict[str, str]:
    """The text chunks of a PNG (tEXt, zTXt, iTXt) or ComfyUI's EXIF strings of a WEBP."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            texts = {str(k): v for k, v in getattr(image, "text", {}).items() if isinstance(v, str)}
            return texts or _exif_texts(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise WorkflowFormatError(f"{path}: not a readable PNG or WEBP image ({exc})") from None


def _json_chunk(texts: dict[str, str], key: str) -> Any:
    try:
        return json.loads(texts[key])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise WorkflowFormatError(f"its '{key}' text is not valid JSON ({exc})") from None


TextConverter = Callable[[str], Prompt]


def workflow_from_image_texts(texts: dict[str, str], to_api: Callable[[Any], Prompt],
                              text_converters: dict[str, TextConverter] | None = None) -> Prompt:
    """The API prompt an image carries: its `prompt` (exactly what ran), else its editor `workflow` converted
    with `to_api`, else the first text a converter knows (e.g. A1111's `parameters`)."""
    if "prompt" in texts:
        prompt = _json_chunk(texts, "prompt")
        if isinstance(prompt, dict) and prompt:
            return prompt
    if "workflow" in texts:
        return to_api(_json_chunk(texts, "workflow"))
    for key, convert in (text_converters or {}).items():
        if key in texts:
            return convert(texts[key])
    found = ", ".join(sorted(texts)) or "none"
    known = ", ".join([*COMFY_KEYS, *(text_converters or {})])
    raise WorkflowFormatError(f"the image carries no workflow (text chunks: {found}; a workflow is in one of: "
                              f"{known})")
