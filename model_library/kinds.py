"""The kinds of model file Latentloom loads, each once: its folder, the word for one such file, the word for people.

Everything that names the kinds reads them from here: the model folders and their `--<kind>-dir` flags, the folders
start-up makes, the model library's listing and install, the server's /models, ComfyUI's `folder_paths`. A kind the
loaders learn (controlnet, gligen, as ComfyUI names their
folders) is added here with its loader; until then extra_model_paths.yaml folders of that name are kept (`latentloom
models paths` shows them as not used yet) and plugins find them through `folder_paths`.

ComfyUI keeps two names for two of its folders (models/unet beside models/diffusion_models, models/clip beside
models/text_encoders) and its loaders search both: SEARCHED_TOGETHER says which.
"""
from __future__ import annotations

from dataclasses import dataclass

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")  # read as plain tensors only (never unpickled objects)
MODEL_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES  # the files a model folder lists


@dataclass(frozen=True)
class ModelKind:
    folder: str  # ComfyUI's folder name: models/<folder>, --<folder>-dir, the key in extra_model_paths.yaml
    file_kind: str  # what the model library calls a file that belongs there (identify's kind)
    word: str  # one such file, as people read it in messages and help
    suffixes: tuple[str, ...] = MODEL_SUFFIXES  # the files it lists
    folders_only: bool = False  # lists folders that hold a diffusers model (model_index.json), no files

    @property
    def plural(self) -> str:
        return f"{self.word}s"


MODEL_KINDS = (
    ModelKind("checkpoints", "checkpoint", "checkpoint"),
    ModelKind("loras", "lora", "LoRA"),
    ModelKind("vae", "vae", "VAE"),
    ModelKind("embeddings", "embedding", "embedding"),
    ModelKind("diffusion_models", "unet", "diffusion model"),
    ModelKind("unet", "unet", "diffusion model"),
    ModelKind("text_encoders", "text_encoder", "text encoder"),
    ModelKind("clip", "text_encoder", "text encoder"),
    ModelKind("configs", "config", "model config", suffixes=(".yaml", ".yml")),
    ModelKind("diffusers", "diffusers", "diffusers model folder", folders_only=True),
    ModelKind("upscale_models", "upscale_model", "upscale model"),
    ModelKind("gligen", "gligen", "GLIGEN model"),
    ModelKind("clip_vision", "clip_vision", "CLIP vision model"),
    ModelKind("style_models", "style_model", "style model"),
    ModelKind("hypernetworks", "hypernetwork", "hypernetwork"),
    ModelKind("controlnet", "controlnet", "ControlNet"),
    ModelKind("t2i_adapter", "controlnet", "ControlNet"),
)

KINDS = tuple(kind.folder for kind in MODEL_KINDS)  # the model folder names, in listing order
FOLDER_KINDS = {kind.folder: kind.file_kind for kind in MODEL_KINDS}  # model folder -> the file kind it holds
# file kind -> the folder it belongs in: the first that holds it (reversed, so the first one is written last)
KIND_FOLDERS = {kind.file_kind: kind.folder for kind in reversed(MODEL_KINDS)}
KIND_WORDS = {kind.folder: kind.word for kind in MODEL_KINDS}  # model folder -> one such file in people's words
KINDS_BY_FOLDER = {kind.folder: kind for kind in MODEL_KINDS}
# the folders a loader searches, in order, for the kind it is given (ComfyUI's legacy names map to the current ones)
SEARCHED_TOGETHER = {"diffusion_models": ("diffusion_models", "unet"), "unet": ("diffusion_models", "unet"),
                     "text_encoders": ("text_encoders", "clip"), "clip": ("text_encoders", "clip"),
                     "controlnet": ("controlnet", "t2i_adapter"), "t2i_adapter": ("controlnet", "t2i_adapter")}
