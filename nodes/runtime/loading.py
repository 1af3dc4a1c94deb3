"""Load model files into the values on MODEL, CLIP and VAE wires, placed and tracked by the memory manager."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from graph_engine import current_folders

from .checkpoints import load_checkpoint
from .checkpoints.vae_file import load_vae_file
from .devices import model_manager
from model_library.folders import DIFFUSERS_INDEX, model_roots
from model_library.hash_ahead import hash_ahead
from .models import DiffusionModel, TextEncoders, Vae
from .models.x4_upscaler import sampling_facts
from .text import EmbeddingFolder

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def file_bytes(path: Path) -> int:
    """The size of a model file, or of every file in a diffusers folder."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def load_checkpoint_models(path: Path) -> tuple[DiffusionModel, TextEncoders, Vae]:
    """A checkpoint file or diffusers folder as (MODEL, CLIP, VAE), filled straight onto the device the manager
    picks, in the dtype it picks (float32 on a CPU). A file's A1111 Model hash is then computed in the background,
    from the page cache the load filled, for the images saved later."""
    manager = model_manager()
    device = manager.load_device(file_bytes(path))
    dtype = manager.weight_dtype()
    if path.is_dir() and (path / DIFFUSERS_INDEX).is_file():
        from .checkpoints.diffusers_folder import load_diffusers_folder

        loaded = load_diffusers_folder(path, device, dtype)
    else:
        loaded = load_checkpoint(path, device, dtype)
        hash_ahead(current_folders(), path)
    name = path.name
    manager.track(loaded.unet, f"{name} UNet")
    for spec, module in zip(loaded.detected.text_encoders, loaded.text_encoders):
        manager.track(module, f"{name} text encoder {spec.name}")
    manager.track(loaded.vae, f"{name} VAE")
    architecture = str(loaded.architecture)
    model = DiffusionModel(unet=loaded.unet, architecture=architecture, prediction_type=loaded.prediction_type,
                           source=name, **sampling_facts(loaded.unet.config))
    clip = TextEncoders(text_encoders=loaded.text_encoders, detected=loaded.detected, source=name,
                        embeddings=EmbeddingFolder(model_roots(current_folders(), "embeddings")))
    return model, clip, Vae.loaded(loaded.vae, name)


def load_diffusion_model(path: Path, storage_dtype: torch.dtype | None = None) -> DiffusionModel:
    """A diffusion model file (a UNet alone) as the value on a MODEL wire; `storage_dtype` rounds its weights to
    that type (ComfyUI's fp8 weight_dtype)."""
    from .checkpoints.lone_unet import load_unet_file

    manager = model_manager()
    loaded = load_unet_file(path, manager.load_device(file_bytes(path)), manager.weight_dtype(), storage_dtype)
    manager.track(loaded.unet, f"{path.name} UNet")
    return DiffusionModel(unet=loaded.unet, architecture=str(loaded.architecture),
                          prediction_type=loaded.prediction.prediction_type, source=path.name,
                          **sampling_facts(loaded.unet.config))


def load_text_encoders(paths: list[Path]) -> TextEncoders:
    """One text encoder file (SD1.x, SD2.x) or SDXL's two as the value on a CLIP wire."""
    from .checkpoints.lone_text_encoder import load_text_encoder_files

    manager = model_manager()
    detected, modules = load_text_encoder_files(paths, manager.load_device(sum(map(file_bytes, paths))),
                                                manager.weight_dtype())
    source = " + ".join(path.name for path in paths)
    for spec, module in zip(detected.text_encoders, modules):
        manager.track(module, f"{source} text encoder {spec.name}")
    return TextEncoders(text_encoders=modules, detected=detected, source=source,
                        embeddings=EmbeddingFolder(model_roots(current_folders(), "embeddings")))


def load_vae(path: Path) -> Vae:
    """A VAE file as the value on a VAE wire."""
    manager = model_manager()
    module = load_vae_file(path, manager.load_device(file_bytes(path)), manager.weight_dtype())
    manager.track(module, f"{path.name} VAE")
    return Vae.loaded(module, path.name)
