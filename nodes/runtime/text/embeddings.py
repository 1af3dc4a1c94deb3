"""Textual-inversion files (models/embeddings) found by name for `embedding:name`, as ComfyUI finds them.

A name is looked up in each folder and its subfolders (symbolic links followed, as in the model listing), as given
or with .safetensors, .pt or .bin added; it may not be absolute or hold '..'. Formats: A1111's .pt
(`string_to_param`), single-tensor files (`emb_params`), and SDXL files holding `clip_l` and `clip_g`. Pickles are
read with the checkpoint loader's weights-only reader, so they run no code. A file that cannot be read, or whose
vectors do not fit the encoder, is left out of the prompt with a warning.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from graph_engine.folders import join_inside

from ..checkpoints.checkpoint_file import read_all_tensors
from ..checkpoints.errors import CheckpointError
from model_library.file_identity import FileIdentity, file_identity
from ..checkpoints.pickle_reader import load_pickle_tensors
from model_library.folders import scan_model_folder
from .tokens import EmbeddingLookup

log = logging.getLogger(__name__)

EMBEDDING_SUFFIXES = (".safetensors", ".pt", ".bin")
FILE_KEYS = {"clip_l": "clip_l", "clip_g": "clip_g", "open_clip_h": "clip_h"}  # TextEncoderSpec.name -> file key


class EmbeddingFolder:
    """The embeddings in some folders; each file is read once per version (read again after it is rewritten)."""

    def __init__(self, directories: Iterable[str | Path]) -> None:
        self.directories = [Path(directory) for directory in directories]
        self._loaded: dict[Path, tuple[FileIdentity, dict[str, torch.Tensor] | None]] = {}

    def find(self, name: str) -> Path | None:
        """The file `name` refers to, or None."""
        for root in self.directories:
            for folder in _with_subfolders(root):
                found = _file_in(folder, name)
                if found is not None:
                    return found
        return None

    def vectors(self, name: str, encoder: str, width: int) -> torch.Tensor | None:
        """The embedding's vectors [n, width] for text encoder `encoder` (clip_l, clip_g, open_clip_h), or None."""
        path = self.find(name)
        if path is None:
            return None
        tensors = self._read(path)
        if not tensors:
            return None
        vectors = _pick(tensors, FILE_KEYS.get(encoder, encoder))
        vectors = vectors.reshape(-1, vectors.shape[-1]) if vectors.ndim else vectors.reshape(1, 1)
        if vectors.shape[-1] != width:
            log.warning("embedding %s (%s) has vectors of width %d but text encoder %s takes %d; it is left out for "
                        "that encoder (it was made for another model family)", name, path, vectors.shape[-1],
                        encoder, width)
            return None
        return vectors.float()

    def lookup(self, encoder: str, width: int) -> EmbeddingLookup:
        """name -> vectors for one text encoder, for tokenize_prompt."""
        return lambda name: self.vectors(name, encoder, width)

    def lookups(self, checkpoint: Any) -> dict[str, EmbeddingLookup]:
        """One lookup per text encoder of a LoadedCheckpoint, for encode_prompt."""
        return {spec.name: self.lookup(spec.name, spec.config["hidden_size"])
                for spec in checkpoint.detected.text_encoders}

    def _read(self, path: Path) -> dict[str, torch.Tensor] | None:
        version = file_identity(path)
        cached = self._loaded.get(path)
        if cached is None or cached[0] != version:
            self._loaded[path] = cached = (version, _load(path))
        return cached[1]


def _with_subfolders(root: Path) -> list[Path]:
    """The root, then its subfolders (links followed, as the model listing follows them), sorted."""
    if not root.is_dir():
        return []
    return [root] + sorted(root / folder for folder in scan_model_folder(root, EMBEDDING_SUFFIXES).folders[1:])


def _file_in(folder: Path, name: str) -> Path | None:
    try:
        candidate = join_inside(folder, name, "embeddings folder")
    except ValueError:
        return None  # `..` or an absolute path would leave the embeddings folder
    if candidate.is_file():
        return candidate
    for suffix in EMBEDDING_SUFFIXES:
        with_suffix = candidate.with_name(candidate.name + suffix)
        if with_suffix.is_file():
            return with_suffix
    return None


def _load(path: Path) -> dict[str, torch.Tensor] | None:
    try:
        if path.suffix.lower() == ".safetensors":
            return read_all_tensors(path)[0]  # into memory of their own: the file may be rewritten while in use
        return load_pickle_tensors(path)
    except (CheckpointError, OSError, ValueError, RuntimeError) as error:
        log.warning("embedding file %s could not be read and is left out of the prompt: %s", path, error)
        return None


def _pick(tensors: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    """A1111's string_to_param first, then the encoder's own key (SDXL files), else the file's first tensor."""
    for name, tensor in tensors.items():
        if name.startswith("string_to_param."):
            return tensor
    return tensors.get(key, next(iter(tensors.values())))
