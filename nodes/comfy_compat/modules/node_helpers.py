"""ComfyUI's `node_helpers` for plugins: conditioning option updates and tolerant Pillow opening."""
from __future__ import annotations

from typing import Any, Callable

from nodes.comfy_compat.not_offered import attribute_not_offered


def conditioning_set_values(conditioning: list, values: dict | None = None, append: bool = False) -> list:
    """A copy of CONDITIONING with `values` set in every entry's options (added to existing lists with append);
    the tensors are shared, the input is left as it was."""
    updated = []
    for embedding, options in conditioning:
        options = dict(options)
        for key, value in (values or {}).items():
            options[key] = options[key] + value if append and key in options else value
        updated.append([embedding, options])
    return updated


def pillow(function: Callable[[Any], Any], argument: Any) -> Any:
    """`function(argument)`, retried once with Pillow accepting truncated files (as ComfyUI opens images)."""
    from PIL import ImageFile, UnidentifiedImageError

    try:
        return function(argument)
    except (OSError, UnidentifiedImageError, ValueError):
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            return function(argument)
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
