"""Where model files live (checkpoints, vae, loras, embeddings), listed for combo inputs and found safely.

Each kind is searched in several roots, in order: `<models>/<kind>` first (new files are installed there), then
the `--<kind>-dir` folders, then the folders of extra_model_paths.yaml. Node classes list files in INPUT_TYPES,
outside any run, so the roots are process-wide: start-up calls `set_models_folder`; inside a run the engine's own
models folder wins for the first root. Listings are read from disk on every call, so a file dropped into a folder
shows up after the registry's refresh, without a restart. Names are paths relative to their root with "/"
separators, as ComfyUI lists them, merged across roots (the first root wins a clash, as in ComfyUI); a name may
never lead outside its root.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from graph_engine import current_context
from graph_engine.folders import is_inside, resolve_inside

from .checkpoints.checkpoint_file import MODEL_SUFFIXES
from .checkpoints.file_identity import file_identity, folder_identity

KINDS = ("checkpoints", "vae", "loras", "embeddings")
DIFFUSERS_INDEX = "model_index.json"  # a diffusers-format model folder lists as one checkpoint


@dataclass(frozen=True)
class ModelRoot:
    """A folder searched for one kind of model, and why (shown by `latentloom models paths`)."""

    kind: str
    path: Path
    origin: str


_models_folder: Path | None = None
_extra_roots: tuple[ModelRoot, ...] = ()


def set_models_folder(path: str | os.PathLike, extra_roots: Iterable[ModelRoot] = ()) -> None:
    """The installation's models folder (its subfolders are named after the kinds) and the roots searched after it.

    Each call replaces both, so the search order is always exactly what the last start-up said. Roots of kinds
    Latentloom does not use yet are ignored here.
    """
    global _models_folder, _extra_roots
    _models_folder = Path(path).resolve()
    _extra_roots = tuple(ModelRoot(r.kind, Path(r.path).resolve(), r.origin) for r in extra_roots if r.kind in KINDS)


def models_folder() -> Path:
    """The running engine's models folder during a run; else the one set at start-up, else ./models."""
    context = current_context()
    if context is not None:
        return context.folders.models
    return _models_folder if _models_folder is not None else Path("models").resolve()


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown model kind '{kind}'; the kinds are {', '.join(KINDS)}")


def kind_folder(kind: str) -> Path:
    """The first root of `kind`: where new files of that kind are put."""
    _check_kind(kind)
    return models_folder() / kind


def model_search_roots(kind: str) -> list[ModelRoot]:
    """The roots of `kind` in search order with their origins; a folder named twice is searched once."""
    _check_kind(kind)
    roots, seen = [], set()
    for root in (ModelRoot(kind, kind_folder(kind), "default"), *(r for r in _extra_roots if r.kind == kind)):
        real = os.path.realpath(root.path)
        if real not in seen:
            seen.add(real)
            roots.append(root)
    return roots


def model_roots(kind: str) -> list[Path]:
    """The folders searched for `kind`, in order; the first is where new files of that kind are installed."""
    return [root.path for root in model_search_roots(kind)]


def list_models(kind: str) -> list[str]:
    """Model files (and, for checkpoints, diffusers folders) in every root of the kind, sorted, "/"-separated.

    A name found in several roots is listed once (find_model gives the first root's file). Symbolic links that
    lead outside their root are left out, as find_model would refuse them.
    """
    names = set()
    for root in model_roots(kind):
        names.update(_names_in(kind, root))
    return sorted(names, key=lambda name: (name.lower(), name))


def _names_in(kind: str, root: Path) -> list[str]:
    names = []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        if not is_inside(root, folder):
            subfolders.clear()
            continue
        relative = Path(folder).relative_to(root)
        if kind == "checkpoints" and DIFFUSERS_INDEX in files and folder != str(root):
            names.append(relative.as_posix())
            subfolders.clear()  # its unet/, vae/ ... are parts, not models
            continue
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        names.extend((relative / name).as_posix() for name in files
                     if name.lower().endswith(MODEL_SUFFIXES) and not name.startswith(".")
                     and is_inside(root, os.path.join(folder, name)))
    return names


def find_model(kind: str, name: str) -> Path:
    """The path of model `name` of `kind` in the first root that has it; FileNotFoundError or ValueError with a
    message a beginner can act on.

    A root where the name would lead outside (a link out of it) is skipped, as the listing skips it; a name that
    leaves every root ('..', an absolute path) is refused.
    """
    roots = model_roots(kind)
    refused: ValueError | None = None
    for root in roots:
        try:
            target = resolve_inside(root, name, f"{kind} folder")
        except ValueError as exc:
            refused = refused or exc
            continue
        if os.path.exists(target):
            return target
    if refused is not None:
        raise refused
    searched = "" if len(roots) == 1 else f" (searched: {', '.join(str(r) for r in roots)})"
    raise FileNotFoundError(f"'{name}' is not in the {kind} folder: put the file in {roots[0]}{searched} "
                            f"(the list of files refreshes without a restart)")


def model_file_state(kind: str, name: str) -> str:
    """A loader's IS_CHANGED: changes whenever the file is written or replaced (in place too, even with its mtime
    set back), so the engine's cache never serves a model loaded from an older version of the file."""
    try:
        path = find_model(kind, name)
        identity = folder_identity(path) if os.path.isdir(path) else file_identity(path)
    except (OSError, ValueError):
        return name  # validation reports the missing file
    return f"{name}:{identity}"
