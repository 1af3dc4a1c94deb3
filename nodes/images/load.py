"""The image loaders: LoadImage (input folder -> IMAGE and MASK = 1 - alpha), LoadImageMask (one channel as MASK) and
LoadImageOutput (a saved image from the output folder), all within one frame and pixel limit."""
from __future__ import annotations

import hashlib
from pathlib import Path

from graph_engine import current_folders
from graph_engine.estimate import NodeEstimate, ValueSize
from graph_engine.image_frames import FramePixels, frame_pixels

from .input_folder import find_input_file, find_output_image, list_images

# Every frame becomes float32 RGB plus a float32 mask: 16 bytes a pixel, so 64 megapixels across all frames is about
# 1 GiB of tensors. The same count as the upload limit: any image one upload may hold can be loaded, and a small file
# of many big frames (an APNG, GIF or TIFF compresses them to nothing) cannot take the machine's memory.
MAX_LOADED_PIXELS = 64_000_000
# Many tiny frames cost per frame too (a tensor each, a 64x64 mask for frames without alpha): 4096 frames is nearly
# three minutes of animation at 25 frames a second.
MAX_LOADED_FRAMES = 4096


def frames_of(path: Path) -> FramePixels:
    """The frames LoadImage would decode from the file and their pixels, read from its headers."""
    from PIL import Image

    with Image.open(path) as opened:
        return frame_pixels(opened)


def over_limits(name: str, counted: FramePixels) -> str | None:
    """Why LoadImage refuses frames so counted, naming the file, or None when they are within its limits."""
    if counted.frames > MAX_LOADED_FRAMES:
        return (f"Invalid image file: '{name}' has more than {MAX_LOADED_FRAMES} frames, LoadImage's limit; keep fewer "
                f"frames in the file")
    if counted.pixels > MAX_LOADED_PIXELS:
        return (f"Invalid image file: '{name}' is {counted.describe()}: more than LoadImage's limit of "
                f"{MAX_LOADED_PIXELS:,} pixels across all frames; use a smaller image or fewer frames")
    return None


class FrameCounter:
    """Counts frames while they are decoded and stops before the one that would pass a limit (the file may have
    changed since validation read its headers)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.counted: FramePixels | None = None

    def __call__(self, width: int, height: int) -> None:
        before = self.counted or FramePixels(0, 0, width, height)
        self.counted = FramePixels(before.frames + 1, before.pixels + width * height, before.width, before.height)
        problem = over_limits(self.name, self.counted)
        if problem is not None:
            raise ValueError(problem)


class ImageFileLoader:
    """What the loaders share: a name looked up safely in one of the installation's folders (the input folder unless
    image_path says otherwise), decoded with the limits above, checked before the run and hashed for IS_CHANGED."""
    CATEGORY = "image"

    @classmethod
    def image_path(cls, image: str) -> Path:
        return find_input_file(current_folders().input, image)

    @classmethod
    def decode(cls, image: str):
        """(IMAGE [N,H,W,3], MASK [N,H,W] = 1 - alpha) of the named file's frames."""
        from PIL import Image

        from .conversion import pil_frames_to_tensors

        with Image.open(cls.image_path(image)) as opened:
            return pil_frames_to_tensors(opened, FrameCounter(image))

    @classmethod
    def loaded_size(cls, image: str) -> tuple[int, int, int]:
        """(frames, height, width) the file decodes to, from its headers."""
        counted = frames_of(cls.image_path(image))
        # pages of another size than the first are left out of the batch: count only the first when sizes differ
        same_size = counted.pixels == counted.frames * counted.width * counted.height
        return (counted.frames if same_size else 1), counted.height, counted.width

    @classmethod
    def IS_CHANGED(cls, image: str, **other_inputs):
        digest = hashlib.sha256()
        with open(cls.image_path(image), "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    @classmethod
    def VALIDATE_INPUTS(cls, image):
        if not isinstance(image, str):
            return f"Invalid image file: expected a file name, got {type(image).__name__}"
        try:
            path = cls.image_path(image)
        except (ValueError, OSError) as exc:
            return str(exc) if str(exc).startswith("Invalid image file") else f"Invalid image file: {exc}"
        try:
            counted = frames_of(path)
        except Exception as exc:  # Pillow has many ways to say it cannot read a file; none is a server error
            return f"Invalid image file: '{image}' is not an image Pillow can read ({type(exc).__name__})"
        return over_limits(image, counted) or True


class LoadImage(ImageFileLoader):
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load_image"
    DESCRIPTION = (f"Loads an image from the input folder; the mask is 1 where the image is transparent. Animated "
                   f"files give one image per frame, up to {MAX_LOADED_FRAMES} frames and "
                   f"{MAX_LOADED_PIXELS // 1_000_000} megapixels in all.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (list_images(current_folders().input), {"image_upload": True})}}

    def load_image(self, image: str):
        return self.decode(image)

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        frames, height, width = cls.loaded_size(inputs["image"])
        image, mask = ValueSize.array((frames, height, width, 3)), ValueSize.array((frames, height, width))
        return NodeEstimate((image, mask), image.nbytes + mask.nbytes,
                            f"{frames} frame(s) of {width}x{height} pixels as float32")


class LoadImageOutput(LoadImage):
    EXPERIMENTAL = True
    DESCRIPTION = ("Loads an image from the output folder, such as one saved by an earlier run; the mask is 1 where "
                   "the image is transparent.")

    @classmethod
    def INPUT_TYPES(cls):
        # ComfyUI's front end fetches the list from the route; the options are the same list for API clients
        return {"required": {"image": ("COMBO", {
            "options": list_images(current_folders().output), "image_upload": True, "image_folder": "output",
            "remote": {"route": "/internal/files/output", "refresh_button": True, "control_after_refresh": "first"},
        })}}

    @classmethod
    def image_path(cls, image: str) -> Path:
        return find_output_image(current_folders().output, image)


MASK_CHANNELS = ("alpha", "red", "green", "blue")


class LoadImageMask(ImageFileLoader):
    RETURN_TYPES = ("MASK",)
    FUNCTION = "load_image_mask"
    DESCRIPTION = ("Loads one channel of an image from the input folder as a mask: alpha gives 1 where the image is "
                   "transparent, red, green or blue give that colour's value.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (list_images(current_folders().input), {"image_upload": True}),
                             "channel": (list(MASK_CHANNELS),)}}

    def load_image_mask(self, image: str, channel: str):
        pixels, transparency = self.decode(image)
        if channel == "alpha":
            return (transparency,)
        return (pixels[..., MASK_CHANNELS.index(channel) - 1].clone(),)

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        frames, height, width = cls.loaded_size(inputs["image"])
        image, mask = ValueSize.array((frames, height, width, 3)), ValueSize.array((frames, height, width))
        return NodeEstimate((mask,), image.nbytes + 2 * mask.nbytes,
                            f"{frames} frame(s) of {width}x{height} pixels decoded, one channel kept")


NODE_CLASS_MAPPINGS = {"LoadImage": LoadImage, "LoadImageMask": LoadImageMask, "LoadImageOutput": LoadImageOutput}
NODE_DISPLAY_NAME_MAPPINGS = {"LoadImage": "Load Image", "LoadImageMask": "Load Image (as Mask)",
                              "LoadImageOutput": "Load Image (from Outputs)"}
