"""LoadImage: a file from the input folder as IMAGE and MASK (1 - alpha)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from graph_engine import current_context

from .input_folder import find_input_file, get_input_folder, list_images


def _run_input_folder() -> Path:
    """The engine's input folder while a run is on, else the one set at start-up."""
    context = current_context()
    return context.folders.input if context is not None else get_input_folder()


class LoadImage:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load_image"
    DESCRIPTION = "Loads an image from the input folder; the mask is 1 where the image is transparent."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (list_images(get_input_folder()), {"image_upload": True})}}

    def load_image(self, image: str):
        from PIL import Image

        path = find_input_file(_run_input_folder(), image)
        from .conversion import pil_frames_to_tensors

        with Image.open(path) as opened:
            return pil_frames_to_tensors(opened)

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
            find_input_file(get_input_folder(), image)
        except (ValueError, OSError) as exc:
            return str(exc) if str(exc).startswith("Invalid image file") else f"Invalid image file: {exc}"
        return True
