"""How many pixels an image file holds over all its frames, read from its headers without decoding the frames.

A small animated PNG, GIF, WebP or a many-page TIFF can hold gigabytes of pixels; whoever decodes every frame
(LoadImage) must count them first. Works on an opened Pillow image (Pillow is imported by the caller).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# formats whose frames may each have their own size; reading a frame's size there decodes nothing
_SIZED_PAGES = {"TIFF"}
# formats whose later frames are previews of the first, which readers skip (LoadImage reads one frame of an MPO)
_FIRST_FRAME_ONLY = {"MPO"}


@dataclass(frozen=True)
class FramePixels:
    """The frame count and the pixels summed over every frame; width and height of the first frame."""

    frames: int
    pixels: int
    width: int
    height: int

    def describe(self) -> str:
        """'4000x3000' for one frame, '120 frames of 640x480 (36864000 pixels in all)' for several ('3 frames, the
        first 640x480 (...)' when their sizes differ)."""
        size = f"{self.width}x{self.height}"
        if self.frames == 1:
            return size
        frames = f"{self.frames} frames of {size}" if self.pixels == self.frames * self.width * self.height else \
            f"{self.frames} frames, the first {size}"
        return f"{frames} ({self.pixels} pixels in all)"


def frame_pixels(image: Any) -> FramePixels:
    """Count the frames of an opened Pillow image and their pixels; leaves the image at its first frame.

    Frame counts come from the file's headers (`n_frames`); only TIFF pages, whose sizes differ, are visited one
    by one, which reads their directory entries and no pixel data. Pillow's errors on a broken file propagate.
    """
    width, height = image.size
    frames = 1 if image.format in _FIRST_FRAME_ONLY else int(getattr(image, "n_frames", 1) or 1)
    if frames == 1 or image.format not in _SIZED_PAGES:
        return FramePixels(frames, frames * width * height, width, height)
    pixels = 0
    for index in range(frames):
        image.seek(index)
        pixels += image.size[0] * image.size[1]
    image.seek(0)
    return FramePixels(frames, pixels, width, height)
