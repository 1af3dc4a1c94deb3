"""ComfyUI's model savers: CheckpointSave, ModelSave, CLIPSave and VAESave write single-file .safetensors in ComfyUI's
layouts (the original LDM names a checkpoint loader reads, checkpoints/ldm_layout.py) into the output folder, named
as ComfyUI names them (<prefix>_00001_.safetensors), with the workflow in the file's metadata. A MODEL or CLIP is
saved as its view runs: merges and LoRAs baked in."""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graph_engine import InvalidNodeInput, current_folders

from ..images.naming import SaveTarget, UnsafePrefixError, file_name, prefix_validation, save_target

PYTHON_MODULE = "comfy_extras.nodes_model_merging"
CATEGORY = "model/merging"
HIDDEN = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
UNET_FILE_PREFIX = "model.diffusion_model."
VAE_FILE_PREFIX = "first_stage_model."
SDXL_SPEC = "stable-diffusion-xl-v1-base"
SDXL_EDIT_SPEC = "stable-diffusion-xl-v1-edit"


def workflow_metadata(prompt: Any, extra_pnginfo: Any) -> dict[str, str]:
    """ComfyUI's file metadata: the prompt as JSON ("" without one), then each extra_pnginfo entry as JSON."""
    metadata = {"prompt": json.dumps(prompt) if prompt is not None else ""}
    if isinstance(extra_pnginfo, Mapping):
        metadata.update({str(key): json.dumps(value) for key, value in extra_pnginfo.items()})
    return metadata


def output_target(filename_prefix: str) -> SaveTarget:
    """Where a prefix saves in the run's output folder; a prefix leading outside it is the node's input error."""
    try:
        return save_target(current_folders().output, filename_prefix)
    except UnsafePrefixError as error:
        raise InvalidNodeInput(str(error)) from None


def write_model_file(filename_prefix: str, tensors: Mapping[str, Any], metadata: dict[str, str] | None) -> Path:
    """<output>/<prefix>_<counter>_.safetensors, never over an existing file; returns its path."""
    from safetensors.torch import save

    from ..images.png_writer import write_exclusive

    target = output_target(filename_prefix)
    stored = {key: tensor.detach().cpu().contiguous() for key, tensor in tensors.items()}
    data = save(stored, metadata=metadata or None)
    name, _ = write_exclusive(target.folder, lambda counter: file_name(target.name, 0, counter, "_.safetensors"),
                              target.counter, lambda stream: stream.write(data), ".safetensors.tmp")
    return target.folder / name


def unet_tensors(model: Any) -> dict[str, Any]:
    """The MODEL's UNet as its view runs, under model.diffusion_model.<original name>."""
    return {UNET_FILE_PREFIX + key.removeprefix("diffusion_model."): tensor
            for key, tensor in model.patched_parameters().items()}


def text_encoder_tensors(clip: Any) -> dict[str, Any]:
    """The CLIP's encoders as its view runs, in their family's checkpoint layout."""
    from nodes.runtime.checkpoints.ldm_layout import text_encoders_to_ldm

    clip.patched_parameters()  # brings the shared encoders to this view
    return text_encoders_to_ldm(clip.text_encoders, clip.architecture)


def vae_tensors(vae: Any) -> dict[str, Any]:
    """The VAE in the original layout, without the checkpoint's first_stage_model. prefix."""
    from nodes.runtime.checkpoints.ldm_layout import vae_to_ldm

    return {key.removeprefix(VAE_FILE_PREFIX): tensor for key, tensor in vae_to_ldm(vae.module).items()}


def checkpoint_metadata(model: Any, title: str) -> tuple[dict[str, str], dict[str, Any]]:
    """ComfyUI's model-spec metadata (SDXL only) and prediction key, and the marker tensors it adds."""
    import torch

    metadata: dict[str, str] = {}
    if model.architecture == "SDXL":
        edit = model.image_input == "instruct_pix2pix"
        metadata.update({"modelspec.architecture": SDXL_EDIT_SPEC if edit else SDXL_SPEC,
                         "modelspec.sai_model_spec": "1.0.0",
                         "modelspec.implementation": "sgm", "modelspec.title": title})
    extra = {}
    if model.prediction_type == "v_prediction":
        metadata["modelspec.predict_key"] = "v"
        extra["v_pred"] = torch.tensor([])
    else:
        metadata["modelspec.predict_key"] = "epsilon"
    return metadata, extra


def save_checkpoint(model: Any, clip: Any, vae: Any, filename_prefix: str, prompt: Any, extra_pnginfo: Any) -> Path:
    """One file with what is given: the UNet always, the text encoders and the VAE when given."""
    if clip is not None and clip.architecture != model.architecture:
        raise InvalidNodeInput(f"the model is {model.architecture} but the clip is {clip.architecture}: a checkpoint "
                               "holds the parts of one family")
    target = output_target(filename_prefix)
    spec, extra = checkpoint_metadata(model, f"{target.name} {target.counter}")
    tensors = {**unet_tensors(model), **extra}
    if clip is not None:
        tensors.update(text_encoder_tensors(clip))
    if vae is not None:
        tensors.update({VAE_FILE_PREFIX + key: tensor for key, tensor in vae_tensors(vae).items()})
    return write_model_file(filename_prefix, tensors, {**spec, **workflow_metadata(prompt, extra_pnginfo)})


class _Saver:
    RETURN_TYPES = ()
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = CATEGORY

    @classmethod
    def VALIDATE_INPUTS(cls, filename_prefix=None):
        return prefix_validation(filename_prefix, current_folders().output)


class CheckpointSave(_Saver):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "clip": ("CLIP",), "vae": ("VAE",),
                             "filename_prefix": ("STRING", {"default": "checkpoints/ComfyUI"})},
                "hidden": HIDDEN}

    def save(self, model, clip, vae, filename_prefix: str, prompt=None, extra_pnginfo=None):
        save_checkpoint(model, clip, vae, filename_prefix, prompt, extra_pnginfo)
        return {}


class ModelSave(_Saver):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",),
                             "filename_prefix": ("STRING", {"default": "diffusion_models/ComfyUI"})},
                "hidden": HIDDEN}

    def save(self, model, filename_prefix: str, prompt=None, extra_pnginfo=None):
        save_checkpoint(model, None, None, filename_prefix, prompt, extra_pnginfo)
        return {}


class CLIPSave(_Saver):
    """One file per text encoder (<prefix>_clip_l, <prefix>_clip_g...), each in the transformers layout."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip": ("CLIP",), "filename_prefix": ("STRING", {"default": "clip/ComfyUI"})},
                "hidden": HIDDEN}

    def save(self, clip, filename_prefix: str, prompt=None, extra_pnginfo=None):
        metadata = {"format": "pt", **workflow_metadata(prompt, extra_pnginfo)}
        by_encoder: dict[str, dict[str, Any]] = {}
        for key, tensor in clip.patched_parameters().items():
            encoder, _, name = key.partition(".")
            by_encoder.setdefault(encoder, {})[name.removeprefix("transformer.")] = tensor
        for encoder, tensors in by_encoder.items():
            write_model_file(f"{filename_prefix}_{encoder}", tensors, metadata)
        return {}


class VAESave(_Saver):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"vae": ("VAE",), "filename_prefix": ("STRING", {"default": "vae/ComfyUI_vae"})},
                "hidden": HIDDEN}

    def save(self, vae, filename_prefix: str, prompt=None, extra_pnginfo=None):
        write_model_file(filename_prefix, vae_tensors(vae), workflow_metadata(prompt, extra_pnginfo))
        return {}


NODE_CLASS_MAPPINGS = {"CheckpointSave": CheckpointSave, "ModelSave": ModelSave, "CLIPSave": CLIPSave,
                       "VAESave": VAESave}
NODE_DISPLAY_NAME_MAPPINGS = {"CheckpointSave": "Save Checkpoint"}
