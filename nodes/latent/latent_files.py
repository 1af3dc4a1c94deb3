"""SaveLatent and LoadLatent: latents as ComfyUI's `.latent` files, in the output and input folders.

A `.latent` file is safetensors holding the samples as `latent_tensor` and an empty `latent_format_version_0`
tensor; files without that marker come from ComfyUI's first format, which stored the samples already scaled by
SD1's VAE factor 0.18215, so they are divided by it when read. The metadata holds the prompt and the workflow as
JSON text, as SaveImage's PNG chunks do.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from graph_engine import InvalidNodeInput, MissingFile, current_context, current_folders
from graph_engine.folders import resolve_inside
from graph_engine.partial_files import SAVING, partial_file

PYTHON_MODULE = "nodes"
SUFFIX = ".latent"
TENSOR_KEY = "latent_tensor"
VERSION_MARKER = "latent_format_version_0"
FIRST_FORMAT_SCALE = 0.18215  # what files without the version marker were multiplied by


def latent_metadata(prompt: Any, extra_pnginfo: Any) -> dict[str, str]:
    """The file's metadata: `prompt` as JSON ('' when there is none), then each extra_pnginfo key (the workflow)."""
    metadata = {"prompt": json.dumps(prompt) if prompt is not None else ""}
    if isinstance(extra_pnginfo, dict):
        metadata.update({str(key): json.dumps(value) for key, value in extra_pnginfo.items()})
    return metadata


def write_latent_file(samples: Any, folder: Path, name: str, counter: int, metadata: dict[str, str]) -> str:
    """Write `samples` as <folder>/<name>_<counter>_.latent, taking the next counter while a name is taken; the
    file appears complete or not at all. Returns its file name."""
    from safetensors.torch import save

    from nodes.images.png_writer import publish_under_free_name

    payload = save({TENSOR_KEY: samples.detach().cpu().contiguous(), VERSION_MARKER: _empty_tensor()}, metadata)
    with partial_file(folder, SAVING, SUFFIX + ".tmp") as temporary:
        with open(temporary, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        file_name, _ = publish_under_free_name(temporary, folder, lambda n: f"{name}_{n:05}_{SUFFIX}", counter)
    return file_name


def _empty_tensor():
    import torch

    return torch.tensor([])


def list_latent_files(folder: Path) -> list[str]:
    """The .latent files directly in `folder`, sorted, as LoadLatent lists them."""
    from nodes.images.input_folder import list_input_files

    return list_input_files(folder, lambda name: name.endswith(SUFFIX))


def find_latent_file(folder: Path, name: str) -> Path:
    """The file `name` in the input folder, or an error that says where to put it."""
    from nodes.images.input_folder import strip_annotation

    try:
        path = resolve_inside(folder, strip_annotation(name), "input folder")
    except ValueError as exc:
        raise MissingFile(f"Invalid latent file: {exc}") from None
    if not path.is_file():
        raise MissingFile(f"Invalid latent file: '{name}' is not in the input folder {folder}: put the .latent file "
                          f"there (SaveLatent writes them into the output folder)")
    return path


def read_latent_file(path: Path, name: str) -> Any:
    """The samples of a .latent file as float32, rescaled when the file has ComfyUI's first format."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise InvalidNodeInput(f"'{name}' is not a .latent file that can be read (it must be safetensors, as "
                               f"SaveLatent writes it): {exc}") from None
    if TENSOR_KEY not in tensors:
        raise InvalidNodeInput(f"'{name}' holds no '{TENSOR_KEY}': it is a safetensors file but not a latent saved "
                               f"by SaveLatent")
    scale = 1.0 if VERSION_MARKER in tensors else 1.0 / FIRST_FORMAT_SCALE
    return tensors[TENSOR_KEY].float() * scale


class SaveLatent:
    CATEGORY = "model/latent"
    RETURN_TYPES = ("LATENT",)
    RETURN_NAMES = ("samples",)
    FUNCTION = "save"
    OUTPUT_NODE = True
    DESCRIPTION = ("Save the latents to the output folder as a .latent file (safetensors, with the workflow inside); "
                   "LoadLatent reads it back once it is in the input folder.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "filename_prefix": ("STRING", {"default": "latents/ComfyUI"})},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    @classmethod
    def VALIDATE_INPUTS(cls, filename_prefix=None):
        from nodes.images.naming import prefix_validation

        return prefix_validation(filename_prefix, current_folders().output)

    def save(self, samples: dict, filename_prefix: str = "ComfyUI", prompt: Any = None, extra_pnginfo: Any = None):
        from nodes.images.naming import save_target

        if current_context() is None:
            raise RuntimeError("SaveLatent saves only while the engine runs it")
        target = save_target(current_folders().output, filename_prefix)
        file_name = write_latent_file(samples["samples"], target.folder, target.name, target.counter,
                                      latent_metadata(prompt, extra_pnginfo))
        saved = {"filename": file_name, "subfolder": target.subfolder, "type": "output"}
        return {"ui": {"latents": [saved]}, "result": (samples,)}


class LoadLatent:
    CATEGORY = "model/latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "load"
    DESCRIPTION = "Load a .latent file (as SaveLatent writes them) from the input folder."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"latent": (list_latent_files(current_folders().input),)}}

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return (f"LoadLatent lists the .latent files in the input folder {current_folders().input}; SaveLatent "
                f"writes them into the output folder, from where you can copy them")

    def load(self, latent: str):
        return ({"samples": read_latent_file(find_latent_file(current_folders().input, latent), latent)},)

    @classmethod
    def IS_CHANGED(cls, latent: str):
        from model_library.hashes import file_sha256

        return file_sha256(find_latent_file(current_folders().input, latent))

    @classmethod
    def VALIDATE_INPUTS(cls, latent):
        if not isinstance(latent, str):
            return f"Invalid latent file: expected a file name, got {type(latent).__name__}"
        try:
            find_latent_file(current_folders().input, latent)
        except MissingFile as exc:
            return str(exc)
        return True


NODE_CLASS_MAPPINGS = {"SaveLatent": SaveLatent, "LoadLatent": LoadLatent}
NODE_DISPLAY_NAME_MAPPINGS = {"SaveLatent": "Save Latent", "LoadLatent": "Load Latent"}
