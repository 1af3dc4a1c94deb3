"""Say what a model file is (kind, base family, precision, training facts) from its header, or why it is unusable.

Only headers are read: a .safetensors header is a few kB of JSON, so identifying hundreds of multi-GB files takes
milliseconds each. Files that are not models at all are named for what they are, since that is what beginners
download by mistake: a web page saved under a model's name, a Git LFS pointer, an empty or truncated file.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from nodes.runtime.checkpoints import (CheckpointError, CheckpointFile, UnsafePickleError, classify_file,
                                       open_checkpoint_file)
from .folders import DIFFUSERS_INDEX, link_problem

from nodes.runtime.lora.training_info import TrainingInfo, read_training_info

log = logging.getLogger(__name__)

# header dtype names -> the short names users see in UIs and file names
PRECISIONS = {"F32": "fp32", "F16": "fp16", "BF16": "bf16", "F64": "fp64", "F8_E4M3": "fp8", "F8_E5M2": "fp8",
              "float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp64",
              "float8_e4m3fn": "fp8", "float8_e5m2": "fp8"}
CONFIG_SUFFIXES = (".yaml", ".yml")  # models/configs: the original LDM configs, not weights
LFS_POINTER = b"version https://git-lfs.github.com/spec/"
HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")


@dataclass(frozen=True)
class ModelFile:
    """One model file as users care about it; `problem` is set (and the rest mostly empty) when it is unusable."""

    path: Path
    size: int
    file_format: str  # safetensors, pickle, diffusers, or "" when unreadable
    kind: str  # see nodes.runtime.checkpoints.file_kinds.KINDS
    architecture: str  # SD1.x, SD2.x, SDXL, a family Latentloom cannot run (FLUX.1, SD3 ...), or "" when unknown
    precision: str  # fp16, fp32, bf16, fp8, "fp16+fp32" for mixed files, "" when unknown
    description: str  # "a LoRA for SDXL"
    advice: str  # where it belongs / what to do
    training: TrainingInfo | None = None
    problem: str | None = None
    unsupported: str | None = None  # a valid file Latentloom cannot run: "Latentloom cannot run FLUX.1 models (...)"


def identify_model(path: str | Path) -> ModelFile:
    """Identify a file or a diffusers folder; never raises for a bad file (the problem is in `.problem`)."""
    path = Path(path)
    broken_link = link_problem(path)
    if broken_link is not None:
        return unusable_model(path, 0, "", f"{path} is {broken_link}")
    if path.is_dir():
        return _identify_folder(path)
    size = path.stat().st_size
    if path.suffix.lower() in CONFIG_SUFFIXES:
        return ModelFile(path, size, "yaml", "config", "", "", "a model config",
                         "put it in models/configs and choose it in Load Checkpoint With Config (CheckpointLoader).")
    problem = _not_a_model(path, size)
    if problem is not None:
        return unusable_model(path, size, "", problem)
    try:
        with open_checkpoint_file(path) as opened:
            kind = classify_file(opened.shapes, opened.metadata, path.name)
            return ModelFile(path, size, opened.format, kind.kind, kind.base, _precision(opened),
                             kind.description, kind.advice, read_training_info(opened.metadata),
                             unsupported=kind.unsupported)
    except UnsafePickleError as error:
        return unusable_model(path, size, "pickle", f"{error} Convert it to .safetensors with a trusted tool, or "
                                               f"download the .safetensors version.")
    except CheckpointError as error:
        return unusable_model(path, size, "", str(error))


def _identify_folder(path: Path) -> ModelFile:
    size = sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
    if not (path / DIFFUSERS_INDEX).is_file():
        return unusable_model(path, size, "", f"{path} is a folder without a model_index.json, so it is not a "
                                              f"diffusers model folder.")
    from nodes.runtime.checkpoints import inspect_diffusers_folder  # imports torch: only for folders

    try:
        summary = inspect_diffusers_folder(path)
    except CheckpointError as error:
        return unusable_model(path, size, "diffusers", str(error))
    return ModelFile(path, size, "diffusers", "checkpoint", summary.detected.architecture.value, "",
                     "a checkpoint (diffusers folder)", "load it with Load Checkpoint (CheckpointLoaderSimple).")


def looks_like_html(first_bytes: bytes) -> bool:
    """Whether a file (or a download's first bytes) starts like a web page: a login or error page saved as a model."""
    return first_bytes.lstrip()[:16].lower().startswith(HTML_STARTS)


def _not_a_model(path: Path, size: int) -> str | None:
    """The commonest things saved under a model's name by mistake, told from the first bytes."""
    if size == 0:
        return f"{path} is empty (0 bytes): the download never started or was cancelled. Download it again."
    with path.open("rb") as handle:
        start = handle.read(512)
    if looks_like_html(start):
        return (f"{path} is a web page (HTML), not a model: the link pointed at a page (a login, an error or a "
                f"model's web page) instead of the file. Download the file itself — on Hugging Face use the "
                f"'resolve' link or the download button, not the 'blob' page; on sites that need a login, add "
                f"your token.")
    if start.startswith(LFS_POINTER):
        return (f"{path} is a Git LFS pointer ({size} bytes), not the model: the repository was cloned without "
                f"Git LFS. Run `git lfs pull` in the clone, or download the file itself.")
    if start.lstrip().startswith((b"{", b"[")) and not start[8:9] == b"{":
        return f"{path} is a JSON text file, not a model (a config or an error message). Download the model file."
    return None


def unusable_model(path: Path, size: int, file_format: str, problem: str) -> ModelFile:
    """A file (or a link, or a folder) that cannot be used, with the sentence saying why."""
    return ModelFile(path, size, file_format, "unknown", "", "", "", "", None, problem)


def _precision(opened: CheckpointFile) -> str:
    """The floating-point formats holding most of the weights (by element count, biggest first)."""
    counts: Counter[str] = Counter()
    for key, dtype in opened.dtype_names().items():
        name = PRECISIONS.get(dtype)
        if name:
            elements = 1
            for size in opened.shapes[key]:
                elements *= size
            counts[name] += elements
    total = sum(counts.values())
    major = [name for name, count in counts.most_common() if count >= 0.05 * total]
    return "+".join(major)
