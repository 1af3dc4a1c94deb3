"""The example input picture that the shipped img2img and inpaint workflows read (`input/example.png`).

It is drawn here, not downloaded or copied from anywhere, so every fresh clone can make it and no licence applies:
a table under a window, with a bowl of fruit, and a transparent patch where a vase could stand, which the inpaint
workflow repaints ("a vase of flowers on the table"). `latentloom demo-model` and `scripts/run.sh` write it when it
is missing (`python -m latentloom.example_image [INPUT_FOLDER]` does only that).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from graph_engine.partial_files import SAVING, partial_file
from nodes.images.input_folder import EXAMPLE_IMAGE_NAME
PURPOSE = "the picture workflows/img2img.json and inpaint.json read"
SIZE = 512  # SD1's native size: img2img keeps the picture's size
TABLE_TOP = 330
VASE_PATCH = (120, 140, 262, 396)  # the transparent ellipse inpainting fills


def _vertical_gradient(draw: Any, box: tuple[int, int, int, int], top: tuple, bottom: tuple) -> None:
    left, upper, right, lower = box
    for y in range(upper, lower):
        t = (y - upper) / max(1, lower - upper - 1)
        draw.line([(left, y), (right - 1, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))


def _room(draw: Any) -> None:
    _vertical_gradient(draw, (0, 0, SIZE, TABLE_TOP), (226, 210, 182), (194, 174, 144))
    _vertical_gradient(draw, (306, 56, 454, 226), (120, 172, 228), (204, 226, 244))  # the sky in the window
    draw.ellipse((330, 82, 376, 128), fill=(255, 228, 140))
    draw.polygon([(306, 226), (306, 180), (360, 158), (410, 176), (454, 150), (454, 226)], fill=(104, 152, 86))
    draw.rectangle((298, 48, 462, 234), outline=(242, 238, 228), width=9)
    draw.line([(380, 48), (380, 234)], fill=(242, 238, 228), width=7)
    draw.line([(298, 141), (462, 141)], fill=(242, 238, 228), width=7)
    draw.rectangle((40, 70, 170, 170), fill=(58, 92, 70), outline=(120, 78, 40), width=8)  # a small painting
    draw.polygon([(48, 162), (90, 110), (120, 140), (162, 100), (162, 162)], fill=(92, 130, 96))


def _table(draw: Any) -> None:
    draw.rectangle((0, TABLE_TOP, SIZE, SIZE), fill=(150, 98, 58))
    for y in range(TABLE_TOP + 14, SIZE, 22):  # wood grain
        draw.line([(0, y), (SIZE, y + 6)], fill=(136, 88, 50), width=2)
    draw.rectangle((0, TABLE_TOP, SIZE, TABLE_TOP + 6), fill=(118, 76, 42))


def _fruit_bowl(draw: Any) -> None:
    for box, colour in (((344, 300, 392, 348), (240, 150, 40)), ((384, 296, 430, 342), (198, 40, 40)),
                        ((416, 306, 460, 350), (150, 190, 60)), ((364, 280, 410, 326), (236, 160, 52))):
        draw.ellipse(box, fill=colour, outline=tuple(c // 2 for c in colour))
    draw.chord((326, 300, 478, 400), 0, 180, fill=(232, 232, 238), outline=(170, 170, 180), width=3)


def draw_example_image() -> Any:
    """The picture as a Pillow RGBA image; the vase patch is transparent (its colours stay, for img2img)."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (SIZE, SIZE))
    draw = ImageDraw.Draw(picture)
    _room(draw)
    _table(draw)
    _fruit_bowl(draw)
    alpha = Image.new("L", (SIZE, SIZE), 255)
    ImageDraw.Draw(alpha).ellipse(VASE_PATCH, fill=0)
    picture.putalpha(alpha)
    return picture


def ensure_example_image(input_folder: str | os.PathLike) -> Path | None:
    """Write `input_folder/example.png` when it is missing; returns its path when written, None when it was there.

    Written under a temporary name and renamed, so a reader never sees half a picture."""
    from PIL.PngImagePlugin import PngInfo

    folder = Path(input_folder)
    target = folder / EXAMPLE_IMAGE_NAME
    if target.exists():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    info = PngInfo()
    info.add_text("Description", "Latentloom's example input, drawn by latentloom/example_image.py")
    with partial_file(folder, SAVING, ".png.tmp") as temporary:
        draw_example_image().save(temporary, format="PNG", pnginfo=info)
        os.replace(temporary, target)
    return target


if __name__ == "__main__":
    written = ensure_example_image(sys.argv[1] if len(sys.argv) > 1 else "input")
    if written is not None:
        print(f"{written} written: {PURPOSE}.")
