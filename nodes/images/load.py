"""LoadImage: a file from the input folder as IMAGE and MASK (1 - alpha), within a frame and pixel limit."""
from __future__ import annotations

import hashlib
from pathlib import Path

from graph_engine import current_context
from graph_engine.estimate import NodeEstimate, ValueSize

from .input_folder import find_input_file, get_input_folder, list_images

# Every frame becomes float32 RGB plus a float32 mask: 16 bytes a pixel, so 64 megapixels across all frames is about
# 1 GiB of tensors. The same count as the upload limit: any image one upload may hold can be loaded, and a small file
# of many big frames (an APNG, GIF or TIFF compresses them to nothing) cannot take the machine's memory.
MAX_LOADED_PIXELS = 64_000_000
# Many tiny frames cost per frame too (a tensor each, a 64x64 mask for frames without alpha): 4096 frames is nearly
# three minutes of animation at 25 frames a second.
MAX_LOADED_FRAMES = 4096


class LoadLimits:
    """Counts frames and pixels as they are decoded; refuses, naming the file, before the frame that would pass a
    limit is decoded."""

    def __init__(self, name: str, max_pixels: int = MAX_LOADED_PIXELS, max_frames: int = MAX_LOADED_FRAMES) -> None:
        self.name, self.max_pixels, self.max_frames = name, max_pixels, max_frames
        self.frames = self.pixels = 0
        self.largest = (0, 0)

    def check(self, frames: int, width: int, height: int) -> None:
        """Count `frames` more frames of width x height; ValueError when that passes a limit."""
        self.frames += frames
        self.pixels += frames * width * height
        self.largest = max(self.largest, (width, height), key=lambda size: size[0] * size[1])
        if self.frames > self.max_frames:
            raise ValueError(f"Invalid image file: '{self.name}' has more than {self.max_frames} frames, "
                             f"LoadImage's limit; keep fewer frames in the file")
        if self.pixels > self.max_pixels:
            raise ValueError(f"Invalid image file: '{self.name}' holds {self.pixels:,} pixels in {self.frames} "
                             f"frame(s) of up to {self.largest[0]}x{self.largest[1]}, more than LoadImage's limit of "
                             f"{self.max_pixels:,} pixels across all frames; use a smaller image or fewer frames")


def image_file_shape(path: Path) -> tuple[int, int, int]:
    """(width, height, frames LoadImage would decode) from the file's header, without decoding any pixels."""
    from PIL import Image

    with Image.open(path) as opened:
        frames = 1 if opened.format == "MPO" else getattr(opened, "n_frames", 1)  # an MPO's others are previews
        return opened.width, opened.height, frames


def _run_input_folder() -> Path:
    """The engine's input folder while a run is on, else the one set at start-up."""
    context = current_context()
    return context.folders.input if context is not None else get_input_folder()


class LoadImage:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load_image"
    DESCRIPTION = (f"Loads an image from the input folder; the mask is 1 where the image is transparent. Animated "
                   f"files give one image per frame, up to {MAX_LOADED_FRAMES} frames and "
                   f"{MAX_LOADED_PIXELS // 1_000_000} megapixels in all.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (list_images(get_input_folder()), {"image_upload": True})}}

    def load_image(self, image: str):
        from PIL import Image

        from .conversion import pil_frames_to_tensors

        path = find_input_file(_run_input_folder(), image)
        with Image.open(path) as opened:
            return pil_frames_to_tensors(opened, LoadLimits(image).check)

    @classmethod
    def IS_CHANGED(cls, image: str):
        path = find_input_file(get_input_folder(), image)
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    @classmethod
    def VALIDATE_INPUTS(cls, image):
        if not isinstance(image, str):
            return f"Invalid image file: expected a file name, got {type(image).__name__}"
        try:
            path = find_input_file(get_input_folder(), image)
        except (ValueError, OSError) as exc:
            return str(exc) if str(exc).startswith("Invalid image file") else f"Invalid image file: {exc}"
        try:
            width, height, frames = image_file_shape(path)
        except Exception as exc:  # Pillow has many ways to say it cannot read a file; none is a server error
            return f"Invalid image file: '{image}' is not an image Pillow can read ({type(exc).__name__})"
        try:
            LoadLimits(image).check(frames, width, height)
        except ValueError as exc:
            return str(exc)
        return True

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        width, height, frames = image_file_shape(find_input_file(get_input_folder(), inputs["image"]))
        image, mask = ValueSize.array((frames, height, width, 3)), ValueSize.array((frames, height, width))
        return NodeEstimate((image, mask), image.nbytes + mask.nbytes,
                            f"{frames} frame(s) of {width}x{height} pixels as float32")
