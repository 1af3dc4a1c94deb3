"""ComfyUI's ResizeImageMaskNode (comfy_extras.nodes_post_processing): resize an IMAGE [B, H, W, C] or a MASK
[B, H, W] by one of nine rules picked by `resize_type`.

`resize_type` is a dynamic combo whose chosen option brings its own inputs (prompt keys `resize_type.width` ...), and
`resized` has the type `input` receives (IMAGE or MASK), as in ComfyUI.
"""
from __future__ import annotations

import math
from typing import Any

from graph_engine import InvalidNodeInput
from graph_engine.specs import DYNAMIC_COMBO, MATCH_TYPE

from ..latent.resize import CROP_METHODS, MAX_RESOLUTION, resize
from .post_processing import SCALE_METHODS

PYTHON_MODULE = "comfy_extras.nodes_post_processing"
RESIZE_TYPES = ("scale dimensions", "scale by multiplier", "scale longer dimension", "scale shorter dimension",
                "scale width", "scale height", "scale total pixels", "match size", "scale to multiple")
CROP_TIP = ("How to handle aspect ratio mismatch: 'disabled' stretches to fit, 'center' crops to maintain aspect "
            "ratio.")


def _side(default: int, tooltip: str, least: int = 0) -> tuple:
    return ("INT", {"default": default, "min": least, "max": MAX_RESOLUTION, "step": 1, "tooltip": tooltip})


CROP = ("COMBO", {"options": list(CROP_METHODS), "default": "center", "tooltip": CROP_TIP})
OPTION_INPUTS = {  # each option's inputs, in ComfyUI's order (the editor saves their widgets in it)
    "scale dimensions": {
        "width": _side(512, "Target width in pixels. Set to 0 to auto-calculate from height while preserving "
                            "aspect ratio."),
        "height": _side(512, "Target height in pixels. Set to 0 to auto-calculate from width while preserving "
                             "aspect ratio."),
        "crop": CROP},
    "scale by multiplier": {"multiplier": ("FLOAT", {
        "default": 1.0, "min": 0.01, "max": 8.0, "step": 0.01,
        "tooltip": "Scale factor (e.g., 2.0 doubles size, 0.5 halves size)."})},
    "scale longer dimension": {
        "longer_size": _side(512, "The longer edge will be resized to this value. Aspect ratio is preserved.")},
    "scale shorter dimension": {
        "shorter_size": _side(512, "The shorter edge will be resized to this value. Aspect ratio is preserved.")},
    "scale width": {"width": _side(512, "Target width in pixels. Height auto-adjusts to preserve aspect ratio.")},
    "scale height": {"height": _side(512, "Target height in pixels. Width auto-adjusts to preserve aspect ratio.")},
    "scale total pixels": {"megapixels": ("FLOAT", {
        "default": 1.0, "min": 0.01, "max": 16.0, "step": 0.01,
        "tooltip": "Target total megapixels (e.g., 1.0 \u2248 1024\u00d71024). Aspect ratio is preserved."})},
    "match size": {
        "match": ("IMAGE,MASK", {"tooltip": "Resize input to match the dimensions of this reference image or mask."}),
        "crop": CROP},
    "scale to multiple": {"multiple": _side(8, "Resize so width and height are divisible by this number. Useful for "
                                               "latent alignment (e.g., 8 or 64).", least=1)},
}


def _channel_first(value: Any) -> tuple[Any, bool]:
    """An IMAGE or MASK as [B, C, H, W], and whether it was an image."""
    if value.ndim == 4:
        return value.movedim(-1, 1), True
    if value.ndim == 3:
        return value.unsqueeze(1), False
    if value.ndim == 2:
        return value.reshape(1, 1, *value.shape), False
    raise InvalidNodeInput(f"input must be an IMAGE [batch, height, width, channels] or a MASK [batch, height, width], "
                           f"got shape {tuple(value.shape)}")


def _back(samples: Any, is_image: bool) -> Any:
    return samples.movedim(1, -1) if is_image else samples.squeeze(1)


def _aspect_side(old_side: int, old_other: int, other: int) -> int:
    return max(1, round(old_side * other / old_other))


def target_size(rule: str, width: int, height: int, options: dict[str, Any]) -> tuple[int, int] | None:
    """(width, height) that `rule` gives a width x height picture, with the rule's option values; None where the rule
    leaves the picture as it is (a width and a height of 0)."""
    if rule == "scale by multiplier":
        return round(width * options["multiplier"]), round(height * options["multiplier"])
    if rule in ("scale dimensions", "scale width", "scale height"):
        new_width = 0 if rule == "scale height" else options["width"]
        new_height = 0 if rule == "scale width" else options["height"]
        if new_width == 0 and new_height == 0:
            return None
        if new_width == 0:
            return _aspect_side(width, height, new_height), new_height
        if new_height == 0:
            return new_width, _aspect_side(height, width, new_width)
        return new_width, new_height
    if rule in ("scale longer dimension", "scale shorter dimension"):
        size = options["longer_size" if rule == "scale longer dimension" else "shorter_size"]
        by_height = (height > width) if rule == "scale longer dimension" else (height < width)
        if width == height:
            return size, size
        return (round(width / height * size), size) if by_height else (size, round(height / width * size))
    if rule == "scale total pixels":
        scale = math.sqrt(int(options["megapixels"] * 1024 * 1024) / (width * height))
        return round(width * scale), round(height * scale)
    raise InvalidNodeInput(f"unknown resize_type {rule!r}: use one of {', '.join(RESIZE_TYPES)}")


def _cover_multiple(samples: Any, multiple: int, method: str) -> Any:
    """Scale [B, C, H, W] just enough to cover the largest size whose sides are multiples of `multiple` that fits
    in the picture, then crop the centre to it; too small a picture, or one already so, is left as it is."""
    height, width = samples.shape[-2:]
    target_width, target_height = width // multiple * multiple, height // multiple * multiple
    if multiple <= 1 or 0 in (target_width, target_height) or (target_width, target_height) == (width, height):
        return samples
    if target_width / width >= target_height / height:
        scaled_width, scaled_height = target_width, max(target_height, math.ceil(height * target_width / width))
    else:
        scaled_width, scaled_height = max(target_width, math.ceil(width * target_height / height)), target_height
    scaled = resize(samples, scaled_width, scaled_height, method, "disabled")
    left, top = (scaled_width - target_width) // 2, (scaled_height - target_height) // 2
    return scaled[..., top:top + target_height, left:left + target_width]


class ResizeImageMaskNode:
    CATEGORY = "image/transform"
    RETURN_TYPES = (MATCH_TYPE,)  # the type `input` receives
    RETURN_NAMES = ("resized",)
    FUNCTION = "execute"
    DESCRIPTION = "Resize an image or mask using various scaling methods."

    @classmethod
    def INPUT_TYPES(cls):
        options = [{"key": key, "inputs": {"required": dict(OPTION_INPUTS[key])}} for key in RESIZE_TYPES]
        return {
            "required": {
                "input": (MATCH_TYPE, {"template": {"allowed_types": "IMAGE,MASK", "template_id": "input_type"}}),
                "resize_type": (DYNAMIC_COMBO, {"options": options, "tooltip": "Select how to resize: by exact "
                                                "dimensions, scale factor, matching another image, etc."}),
                "scale_method": ("COMBO", {"options": list(SCALE_METHODS), "default": "area", "tooltip":
                                 "Interpolation algorithm. 'area' is best for downscaling, 'lanczos' for upscaling, "
                                 "'nearest-exact' for pixel art."}),
            },
        }

    def execute(self, input, resize_type: dict[str, Any], scale_method: str):
        samples, is_image = _channel_first(input)
        height, width = samples.shape[-2:]
        rule = resize_type["resize_type"]
        crop = resize_type.get("crop", "disabled")
        if rule == "scale to multiple":
            return (_back(_cover_multiple(samples, resize_type["multiple"], scale_method), is_image),)
        if rule == "match size":
            new_height, new_width = _channel_first(resize_type["match"])[0].shape[-2:]
        else:
            size = target_size(rule, width, height, resize_type)
            if size is None:
                return (input,)
            new_width, new_height = size
        if new_width < 1 or new_height < 1:
            raise InvalidNodeInput(f"resize_type {rule!r} makes this {width}x{height} input {new_width}x"
                                   f"{new_height} pixels: pick values that leave at least 1 pixel on each side")
        return (_back(resize(samples, new_width, new_height, scale_method, crop), is_image),)


NODE_CLASS_MAPPINGS = {"ResizeImageMaskNode": ResizeImageMaskNode}
NODE_DISPLAY_NAME_MAPPINGS = {"ResizeImageMaskNode": "Resize Image/Mask"}
