"""The weights a tiny checkpoint file holds, by ComfyUI's MODEL and CLIP key names, and loading it as our values."""
from __future__ import annotations

import torch

FILE_UNET = "model.diffusion_model."
FILE_SD1_TEXT = "cond_stage_model.transformer."


def load(path):
    """(MODEL, CLIP, VAE) of a checkpoint file, as CheckpointLoaderSimple gives them."""
    from graph_engine import Folders, using_folders
    from nodes.runtime.loading import load_checkpoint_models

    with using_folders(Folders.under(path.parent)):  # the loader looks for embeddings in the installation
        return load_checkpoint_models(path)


def unet_file_weights(tiny) -> dict[str, torch.Tensor]:
    """The file's UNet tensors under ComfyUI's MODEL keys (diffusion_model.<original name>)."""
    return {"diffusion_model." + key[len(FILE_UNET):]: tensor.float() for key, tensor in tiny.ldm_state_dict.items()
            if key.startswith(FILE_UNET)}


def clip_file_weights(tiny) -> dict[str, torch.Tensor]:
    """An SD1 file's text encoder tensors under ComfyUI's CLIP keys (clip_l.transformer.text_model.<name>)."""
    return {"clip_l.transformer." + key[len(FILE_SD1_TEXT):]: tensor.float()
            for key, tensor in tiny.ldm_state_dict.items()
            if key.startswith(FILE_SD1_TEXT) and not key.endswith("position_ids")}
