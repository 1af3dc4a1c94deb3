"""Palette reduction of one RGB picture with Pillow, as ComfyUI's ImageQuantize does it: a palette of `colors` from
the picture itself (median cut), then each pixel mapped onto it, plain, with Floyd-Steinberg error diffusion, or with
an ordered (Bayer) threshold added first.
"""
from __future__ import annotations

import math
from typing import Any

DITHERS = ("none", "floyd-steinberg", "bayer-2", "bayer-4", "bayer-8", "bayer-16")


def bayer_thresholds(order: int) -> Any:
    """The order x order Bayer matrix as offsets centred on 0 in units of one palette step (entries in (-0.5, 0.5)),
    built by the usual recursion: each level tiles the previous one four times with the offsets 0, 2, 3, 1."""
    import numpy as np

    level = np.zeros((1, 1), dtype=np.float64)
    for n in range(1, int(math.log2(order)) + 1):
        quarter = 4 ** n
        previous = quarter * level
        level = np.block([[previous - 1.5, previous + 0.5], [previous + 1.5, previous - 0.5]]) / quarter
    return level


def _ordered_dither(picture: Any, palette: Any, order: int) -> Any:
    """Add the tiled Bayer offsets, scaled to the palette's spacing, to the pixels; then map without diffusion."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(picture).astype(np.float64)
    spread = 2 * 256 / (len(palette.getpalette()) // 3)
    thresholds = spread * bayer_thresholds(order) + 0.5
    height, width = pixels.shape[:2]
    tiled = np.tile(thresholds, (math.ceil(height / order), math.ceil(width / order)))[:height, :width]
    shifted = np.clip(pixels + tiled[..., None], 0, 255).astype(np.uint8)
    return Image.fromarray(shifted).quantize(palette=palette, dither=Image.Dither.NONE)


def quantize_rgb(pixels: Any, colors: int, dither: str) -> Any:
    """uint8 RGB [H, W, 3] -> uint8 RGB [H, W, 3] drawn from a palette of at most `colors` colours."""
    import numpy as np
    from PIL import Image

    picture = Image.fromarray(pixels, mode="RGB")
    palette = picture.quantize(colors=colors)  # the palette must come from a quantize of its own (Pillow #5836)
    if dither == "none":
        mapped = picture.quantize(palette=palette, dither=Image.Dither.NONE)
    elif dither == "floyd-steinberg":
        mapped = picture.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
    else:
        mapped = _ordered_dither(picture, palette, int(dither.split("-")[1]))
    return np.asarray(mapped.convert("RGB"))
