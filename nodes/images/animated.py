"""SaveAnimatedPNG and SaveAnimatedWEBP (ComfyUI's comfy_extras.nodes_images): the whole batch as the frames of one
animated file in the output folder, with the workflow inside as ComfyUI writes it (APNG: `comf` chunks after the
image data; WEBP: EXIF Model for the prompt, then Make and the tags below it for the extra_pnginfo keys)."""
from __future__ import annotations

import json
from typing import Any, Callable

from graph_engine import InvalidNodeInput, current_context, current_folders

from .naming import file_name, prefix_validation, save_target
from .save import folders_of_run

PYTHON_MODULE = "comfy_extras.nodes_images"
WEBP_METHODS = {"default": 4, "fastest": 0, "slowest": 6}  # Pillow's effort levels, 0 (fast) to 6 (small)
EXIF_MODEL, EXIF_MAKE = 0x0110, 0x010F


def frame_images(images: Any) -> list:
    """The batch as Pillow images, one per frame (8 bits, as every saver writes them)."""
    from PIL import Image

    from .conversion import to_uint8_batch

    frames = to_uint8_batch(images)
    if not frames:
        raise InvalidNodeInput("images is an empty batch: there is nothing to animate")
    return [Image.fromarray(pixels) for pixels in frames]


def apng_metadata(prompt: Any, extra_pnginfo: Any) -> Any:
    """ComfyUI's `comf` chunks ("<key>\\0<json>") after the image data, where an APNG reader does not stop at them."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    entries = ([("prompt", prompt)] if prompt else []) + (list(extra_pnginfo.items())
                                                          if isinstance(extra_pnginfo, dict) else [])
    for key, value in entries:
        info.add(b"comf", str(key).encode("latin-1", "replace") + b"\0" +
                 json.dumps(value).encode("latin-1", "replace"), after_idat=True)
    return info


def webp_exif(first: Any, prompt: Any, extra_pnginfo: Any) -> Any:
    """EXIF of the WEBP: "prompt:<json>" as Model, each extra_pnginfo key as "<key>:<json>" from Make down."""
    exif = first.getexif()
    if prompt is not None:
        exif[EXIF_MODEL] = f"prompt:{json.dumps(prompt)}"
    if isinstance(extra_pnginfo, dict):
        for tag, (key, value) in zip(range(EXIF_MAKE, 0, -1), extra_pnginfo.items()):
            exif[tag] = f"{key}:{json.dumps(value)}"
    return exif


def save_animation(images: Any, filename_prefix: str, extension: str, write: Callable[[Any, list], None]) -> dict:
    """Write the batch as one animated file <prefix>_<counter>_.<extension> in the output folder, `write(stream,
    frames)` encoding it; ComfyUI's ui (flagged animated when there is more than one frame) and the images on."""
    from .png_writer import write_exclusive

    frames = frame_images(images)
    width, height = frames[0].size
    target = save_target(folders_of_run().output, filename_prefix, width, height)
    context = current_context()
    if context is not None:
        context.progress(0, 1)
    name, _ = write_exclusive(target.folder, lambda n: file_name(target.name, 0, n, f"_.{extension}"),
                              target.counter, lambda stream: write(stream, frames), f".{extension}.tmp")
    if context is not None:
        context.progress(1, 1)
    ui: dict[str, Any] = {"images": [{"filename": name, "subfolder": target.subfolder, "type": "output"}]}
    if len(frames) > 1:
        ui["animated"] = (True,)
    return {"ui": ui, "result": (images,)}


def frame_duration(fps: float) -> int:
    """Milliseconds per frame, truncated as ComfyUI writes it."""
    return int(1000.0 / fps)


SAVER_INPUTS = {
    "images": ("IMAGE",),
    "filename_prefix": ("STRING", {"default": "ComfyUI", "multiline": False}),
    "fps": ("FLOAT", {"default": 6.0, "min": 0.01, "max": 1000.0, "step": 0.01}),
}
HIDDEN = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}


class SaveAnimatedPNG:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    DESCRIPTION = "Saves the images as the frames of one animated PNG (APNG) in the output folder."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {**SAVER_INPUTS,
                             "compress_level": ("INT", {"default": 4, "min": 0, "max": 9, "advanced": True})},
                "hidden": dict(HIDDEN)}

    @classmethod
    def VALIDATE_INPUTS(cls, filename_prefix=None):
        return prefix_validation(filename_prefix, current_folders().output)

    def save_images(self, images, filename_prefix: str = "ComfyUI", fps: float = 6.0, compress_level: int = 4,
                    prompt=None, extra_pnginfo=None) -> dict:
        def write(stream, frames):
            frames[0].save(stream, format="PNG", save_all=True, append_images=frames[1:],
                           duration=frame_duration(fps), compress_level=compress_level,
                           pnginfo=apng_metadata(prompt, extra_pnginfo))

        return save_animation(images, filename_prefix, "png", write)


class SaveAnimatedWEBP:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    DESCRIPTION = "Saves the images as the frames of one animated WEBP in the output folder."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {**SAVER_INPUTS,
                             "lossless": ("BOOLEAN", {"default": True}),
                             "quality": ("INT", {"default": 80, "min": 0, "max": 100}),
                             "method": ("COMBO", {"options": list(WEBP_METHODS)})},
                "hidden": dict(HIDDEN)}

    @classmethod
    def VALIDATE_INPUTS(cls, filename_prefix=None):
        return prefix_validation(filename_prefix, current_folders().output)

    def save_images(self, images, filename_prefix: str = "ComfyUI", fps: float = 6.0, lossless: bool = True,
                    quality: int = 80, method: str = "default", prompt=None, extra_pnginfo=None) -> dict:
        def write(stream, frames):
            frames[0].save(stream, format="WEBP", save_all=True, append_images=frames[1:],
                           duration=frame_duration(fps), exif=webp_exif(frames[0], prompt, extra_pnginfo),
                           lossless=lossless, quality=quality, method=WEBP_METHODS[method])

        return save_animation(images, filename_prefix, "webp", write)


NODE_CLASS_MAPPINGS = {"SaveAnimatedPNG": SaveAnimatedPNG, "SaveAnimatedWEBP": SaveAnimatedWEBP}
NODE_DISPLAY_NAME_MAPPINGS = {"SaveAnimatedPNG": "Save Animated PNG", "SaveAnimatedWEBP": "Save Animated WEBP"}
