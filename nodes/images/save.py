"""SaveImage and PreviewImage: IMAGE batches to PNG files in the output or temp folder.

Both write ComfyUI's `prompt` and `workflow` chunks and, when the graph shows how the image was made, A1111's
`parameters` text (see nodes.a1111.infotext_writer), as ComfyUI's PreviewImage writes the same chunks as SaveImage.
"""
from __future__ import annotations

import random
from typing import Any

from graph_engine import Folders, current_context, current_folders

from .naming import file_name, prefix_validation, save_target


def folders_of_run() -> Folders:
    """The installation whose output folder a saver writes to: the one of the run (validation checked the prefix
    against the same folder)."""
    if current_context() is None:
        raise RuntimeError("the image savers save only while the engine runs them")
    return current_folders()


def save_batch(images: Any, folders: Folders, kind: str, filename_prefix: str, prompt: Any, extra_pnginfo: Any,
               compress_level: int) -> dict:
    """Write every image of the batch into the `kind` folder ("output" or "temp") of the installation `folders`;
    return ComfyUI's {"ui": {"images": [...]}, "result": (images,)}: the images pass on to whatever follows."""
    from nodes.a1111.infotext_writer import parameters_for_image
    from .conversion import to_uint8_batch
    from .png_writer import png_info, write_png_exclusive

    context = current_context()
    frames = to_uint8_batch(images)
    height, width = frames[0].shape[:2] if frames else (0, 0)
    target = save_target(getattr(folders, kind), filename_prefix, width, height)
    node_id = context.node_id if context is not None and frames else None  # no image, no model hashing
    parameters = parameters_for_image(prompt, node_id, width, height, folders)
    info = png_info(prompt, extra_pnginfo, parameters)
    counter = target.counter
    results = []
    for batch_number, pixels in enumerate(frames):
        if context is not None:
            context.progress(batch_number, len(frames))
        name, counter = write_png_exclusive(
            target.folder, lambda n, b=batch_number: file_name(target.name, b, n), counter, pixels, info,
            compress_level)
        results.append({"filename": name, "subfolder": target.subfolder, "type": kind})
        counter += 1
    if context is not None and frames:
        context.progress(len(frames), len(frames))
    return {"ui": {"images": results}, "result": (images,)}


class SaveImage:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    DESCRIPTION = "Saves the input images to your output folder as PNG with the workflow inside."
    compress_level = 4

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to save."}),
                "filename_prefix": ("STRING", {
                    "default": "ComfyUI",
                    "tooltip": "The prefix for the file to save. It may name a subfolder, e.g. 'portraits/cat', "
                               "and use %width%, %height%, %year%, %month%, %day%, %batch_num%."}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, filename_prefix=None):
        return prefix_validation(filename_prefix, current_folders().output)

    def save_images(self, images, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None) -> dict:
        # the output folder VALIDATE_INPUTS checked the prefix against: both ask current_folders()
        return save_batch(images, folders_of_run(), "output", filename_prefix, prompt, extra_pnginfo,
                          self.compress_level)


class PreviewImage:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    DESCRIPTION = "Shows the input images; they are kept in the temp folder only."
    compress_level = 1

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",)}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def save_images(self, images, prompt=None, extra_pnginfo=None) -> dict:
        suffix = "_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))
        return save_batch(images, folders_of_run(), "temp", "ComfyUI" + suffix, prompt, extra_pnginfo,
                          self.compress_level)


NODE_CLASS_MAPPINGS = {"SaveImage": SaveImage, "PreviewImage": PreviewImage}
NODE_DISPLAY_NAME_MAPPINGS = {"SaveImage": "Save Image", "PreviewImage": "Preview Image"}
