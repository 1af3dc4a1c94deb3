"""SaveImageAdvanced (ComfyUI's comfy_extras.nodes_images): IMAGE batches to 8- or 16-bit PNG, or to 32-bit float
OpenEXR in scene-linear light, one file per image, with the prompt and workflow inside."""
from __future__ import annotations

import json
from typing import Any

from graph_engine import InvalidNodeInput, current_context, current_folders
from graph_engine.specs import DYNAMIC_COMBO

from .conversion import refuse_images_without_pixels
from .naming import file_name, prefix_validation, save_target
from .save import folders_of_run

PYTHON_MODULE = "comfy_extras.nodes_images"
PNG_SCALES = {"8-bit": 255.0, "16-bit": 65535.0}
EXR_PRIMARIES = {"sRGB": "Rec.709", "linear": "Rec.709", "HDR": "Rec.2020"}  # the gamut of the linear pixels
COLOUR_SPACE_TIP = (
    "Colour space of the input. The EXR always holds scene-linear light in the matching gamut.\n"
    "sRGB: sRGB-encoded Rec.709; the sRGB transfer function is undone.\n"
    "HDR: HLG-encoded Rec.2020 (BT.2100); the HLG OETF is undone to give scene light.\n"
    "linear: already scene-linear Rec.709 (renderer or compositor output); written unchanged.")


def _combo(choices: list[str], default: str, **extra: Any) -> tuple:
    return ("COMBO", {"options": choices, "default": default, "advanced": True, "multiselect": False, **extra})


def image_frames(images: Any) -> list:
    """The batch's images as float tensors [H, W, 1|3|4]; a batch of 2-D images is grey."""
    shape = tuple(getattr(images, "shape", ()))
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3, 4)) or not shape[0]:
        raise InvalidNodeInput(f"images must be an IMAGE [batch, height, width, 1|3|4 channels], got shape {shape}")
    refuse_images_without_pixels(shape)
    return [frame[..., None] if frame.ndim == 2 else frame for frame in images.float()]


def quantized(frame: Any, bit_depth: str) -> Any:
    """Integer samples as ComfyUI makes them: value * full scale, clamped, truncated."""
    import numpy as np

    scale = PNG_SCALES[bit_depth]
    values = np.nan_to_num(frame.detach().cpu().numpy() * scale, nan=0.0, posinf=scale, neginf=0.0)
    return np.clip(values, 0, scale).astype(np.uint16 if scale > 255 else np.uint8)


def encode(frame: Any, options: dict, texts: dict[str, str]) -> bytes:
    from .hdr_writers import encode_exr, hlg_to_linear, srgb_to_linear

    if options["format"] == "png":
        from PIL.PngImagePlugin import PngInfo

        from .png_encoder import encode_png

        info = PngInfo()
        for key, value in texts.items():
            info.add_text(key, value)
        return encode_png(quantized(frame, options["bit_depth"]), info.chunks)
    colour_space = options.get("input_color_space", "sRGB")
    linear = {"sRGB": srgb_to_linear, "HDR": hlg_to_linear}.get(colour_space, lambda image: image)(frame)
    return encode_exr(linear.detach().cpu().numpy().astype("float32"), texts, EXR_PRIMARIES[colour_space])


def metadata(prompt: Any, extra_pnginfo: Any) -> dict[str, str]:
    """`prompt` and each key of extra_pnginfo (e.g. `workflow`) as JSON text, as ComfyUI writes them."""
    texts = {} if prompt is None else {"prompt": json.dumps(prompt)}
    if isinstance(extra_pnginfo, dict):
        texts.update({str(key): json.dumps(value) for key, value in extra_pnginfo.items()})
    return texts


class SaveImageAdvanced:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    DESCRIPTION = ("Saves the images in the output folder as PNG (8 or 16 bits per sample) or OpenEXR (32-bit float, "
                   "scene-linear light), the prompt and workflow inside.")

    @classmethod
    def INPUT_TYPES(cls):
        png = {"bit_depth": _combo(["8-bit", "16-bit"], "8-bit"), "input_color_space": _combo(["sRGB"], "sRGB")}
        exr = {"bit_depth": _combo(["32-bit float"], "32-bit float"),
               "input_color_space": _combo(["sRGB", "HDR", "linear"], "sRGB", tooltip=COLOUR_SPACE_TIP)}
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to save."}),
                "filename_prefix": ("STRING", {
                    "default": "ComfyUI", "multiline": False,
                    "tooltip": "The prefix for the file to save. It may name a subfolder, e.g. 'portraits/cat', "
                               "and use %width%, %height%, %year%, %month%, %day%, %batch_num%."}),
                "format": (DYNAMIC_COMBO, {"options": [{"key": "png", "inputs": {"required": png}},
                                                       {"key": "exr", "inputs": {"required": exr}}],
                                           "tooltip": "The file format in which to save the image."}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, filename_prefix=None):
        return prefix_validation(filename_prefix, current_folders().output)

    def save_images(self, images, filename_prefix: str, format: dict, prompt=None, extra_pnginfo=None) -> dict:
        from .png_writer import write_exclusive

        frames = image_frames(images)
        extension = format["format"]
        texts = metadata(prompt, extra_pnginfo)
        height, width = frames[0].shape[:2]
        target = save_target(folders_of_run().output, filename_prefix, width, height)
        context = current_context()
        counter, results = target.counter, []
        for batch_number, frame in enumerate(frames):
            if context is not None:
                context.progress(batch_number, len(frames))
            encoded = encode(frame, format, texts)
            name, counter = write_exclusive(
                target.folder, lambda n, b=batch_number: file_name(target.name, b, n, f".{extension}"), counter,
                lambda stream: stream.write(encoded), f".{extension}.tmp")
            results.append({"filename": name, "subfolder": target.subfolder, "type": "output"})
            counter += 1
        if context is not None:
            context.progress(len(frames), len(frames))
        return {"ui": {"images": results}, "result": (images,)}


NODE_CLASS_MAPPINGS = {"SaveImageAdvanced": SaveImageAdvanced}
NODE_DISPLAY_NAME_MAPPINGS = {"SaveImageAdvanced": "Save Image (Advanced)"}
