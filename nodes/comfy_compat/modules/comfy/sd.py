"""ComfyUI's `comfy.sd` for plugins: loading checkpoints, separate UNet and text encoder files and LoRA state dicts,
and the CLIP and VAE classes, over Latentloom's loaders.

`CLIP` and `VAE` are the classes of the values on Latentloom's CLIP and VAE wires (isinstance works), with
ComfyUI's methods: `tokenize`, `encode_from_tokens`, `clone` / `decode`, `encode`, `decode_tiled`, `encode_tiled`.
The CLIP vision part of a checkpoint is not loaded here: `load_checkpoint_guess_config` gives None in its place.
"""
from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from graph_engine import InvalidNodeInput, NoFoldersError, current_folders, using_folders
from nodes.comfy_compat.not_offered import attribute_not_offered
from nodes.runtime.models.text_encoders import TextEncoders as CLIP
from nodes.runtime.models.vae import Vae as VAE

log = logging.getLogger(__name__)


class CLIPType(enum.Enum):
    """ComfyUI's text encoder families (the first of them); Latentloom loads the Stable Diffusion ones (SD1.x,
    SD2.x, SDXL)."""

    STABLE_DIFFUSION = 1
    STABLE_CASCADE = 2
    SD3 = 3
    STABLE_AUDIO = 4
    HUNYUAN_DIT = 5
    FLUX = 6


@contextlib.contextmanager
def _installation() -> Iterator[None]:
    """The engine's folders inside a node call; outside one (a plugin's own thread), those of the engine that loaded
    the plugins, as folder_paths answers."""
    try:
        current_folders()
    except NoFoldersError:
        import folder_paths

        with using_folders(folder_paths._folders()):
            yield
        return
    yield


def _embeddings(clip: Any, embedding_directory: str | Sequence[str] | None) -> Any:
    """The CLIP looking for embeddings in `embedding_directory` when one is given (else in the installation's)."""
    if clip is None or embedding_directory is None:
        return clip
    from nodes.runtime.text import EmbeddingFolder

    directories = [embedding_directory] if isinstance(embedding_directory, (str, Path)) else embedding_directory
    clip = clip.clone()
    clip.embeddings = EmbeddingFolder(directories)
    return clip


def load_checkpoint_guess_config(ckpt_path: str, output_vae: bool = True, output_clip: bool = True,
                                 output_clipvision: bool = False, embedding_directory: Any = None,
                                 output_model: bool = True, model_options: Mapping | None = None,
                                 te_model_options: Mapping | None = None, **_: Any) -> tuple:
    """(MODEL, CLIP, VAE, CLIP vision) of a checkpoint file or diffusers folder, as CheckpointLoaderSimple loads
    them; the parts not asked for, and the CLIP vision model, are None."""
    from nodes.runtime.loading import load_checkpoint_models

    path = Path(ckpt_path)
    if not path.exists():
        raise InvalidNodeInput(f"checkpoint {ckpt_path} does not exist")
    with _installation():
        model, clip, vae = load_checkpoint_models(path)
    if output_clipvision:
        log.warning("%s: Latentloom's comfy.sd does not load a checkpoint's CLIP vision model; None is returned",
                    path.name)
    return (model if output_model else None, _embeddings(clip, embedding_directory) if output_clip else None,
            vae if output_vae else None, None)


def load_lora_for_models(model: Any, clip: Any, lora: Mapping[str, Any], strength_model: float,
                         strength_clip: float, lora_metadata: Mapping[str, str] | None = None) -> tuple[Any, Any]:
    """(MODEL, CLIP) carrying a LoRA given as its state dict (comfy.utils.load_torch_file's), as LoraLoader does;
    either may be None."""
    from nodes.runtime.lora.loading import apply_lora_file
    from nodes.runtime.lora.lora_file import lora_from_state_dict

    if model is None and clip is None:
        return None, None
    if not isinstance(lora, Mapping):
        raise InvalidNodeInput(f"lora must be a LoRA's state dict (from comfy.utils.load_torch_file), not "
                               f"{type(lora).__name__}")
    return apply_lora_file(model, clip, lora_from_state_dict(lora, lora_metadata), strength_model, strength_clip)


def load_clip(ckpt_paths: Sequence[str], embedding_directory: Any = None,
              clip_type: CLIPType = CLIPType.STABLE_DIFFUSION, model_options: Mapping | None = None,
              **_: Any) -> CLIP:
    """A CLIP from text encoder files: one for SD1.x or SD2.x, SDXL's two (CLIP-L and bigG)."""
    from nodes.runtime.loading import load_text_encoders

    if clip_type != CLIPType.STABLE_DIFFUSION:
        raise InvalidNodeInput(f"Latentloom loads the text encoders of Stable Diffusion 1.x, 2.x and SDXL "
                               f"(CLIPType.STABLE_DIFFUSION), not {clip_type}")
    with _installation():
        clip = load_text_encoders([Path(path) for path in ckpt_paths])
    return _embeddings(clip, embedding_directory)


def load_diffusion_model(unet_path: str, model_options: Mapping | None = None, **_: Any) -> Any:
    """A MODEL from a diffusion model file (a UNet alone); model_options["dtype"] rounds its weights to that
    dtype, as UNETLoader's weight_dtype does."""
    from nodes.runtime.loading import load_diffusion_model as load

    return load(Path(unet_path), (model_options or {}).get("dtype"))


def load_unet(unet_path: str, dtype: Any = None) -> Any:
    """ComfyUI's older name for load_diffusion_model."""
    return load_diffusion_model(unet_path, {"dtype": dtype} if dtype is not None else None)


__all__ = ["CLIP", "CLIPType", "VAE", "load_checkpoint_guess_config", "load_clip", "load_diffusion_model",
           "load_lora_for_models", "load_unet"]

__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
