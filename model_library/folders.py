"""Where model files live (checkpoints, vae, loras, embeddings), listed for combo inputs and found safely.

Each kind is searched in several roots, in order (`Folders.model_roots`): `<models>/<kind>` first (new files are
installed there), then the `--<kind>-dir` folders, then the folders of extra_model_paths.yaml. Every function takes
the installation's `Folders`: node code passes `current_folders()`, which the engine makes current around its calls.
Listings are read from disk on every call, so a file dropped into a folder shows up after the registry's refresh,
without a restart. Names are paths relative to their root with "/" separators, as ComfyUI lists them, merged across
roots (the first root wins a clash, as in ComfyUI). Symbolic links inside a root are followed for listing and
loading, as ComfyUI and A1111 follow them (users keep models on a big drive and link them in); a name from a workflow
or request may still only go down from its root.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from graph_engine import Folders, MissingFile
from graph_engine.folders import is_inside, join_inside

from .file_identity import file_identity, folder_identity
from .kinds import KINDS, KINDS_BY_FOLDER, MODEL_SUFFIXES, SEARCHED_TOGETHER

DIFFUSERS_INDEX = "model_index.json"  # a diffusers-format model folder lists as one checkpoint


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown model kind '{kind}'; the kinds are {', '.join(KINDS)}")


def kind_folder(folders: Folders, kind: str) -> Path:
    """The first root of `kind`: where new files of that kind are put."""
    _check_kind(kind)
    return folders.models / kind


def model_roots(folders: Folders, kind: str) -> list[Path]:
    """The folders searched for `kind`, in order; the first is where new files of that kind are installed."""
    _check_kind(kind)
    return [root.path for root in folders.model_roots(kind)]


@dataclass(frozen=True)
class BrokenEntry:
    """Something in a model folder that cannot be listed as a model: a dangling link, a link loop, a folder that
    cannot be read. `reason` completes "<path> is ..." and names no other path (clients see it)."""

    kind: str
    name: str  # relative to its root, "/"-separated, as a model's name would be
    path: Path  # the entry itself (the link, not its target)
    reason: str


@dataclass(frozen=True)
class FolderScan:
    """What a walk of one model folder found: model names, the folders walked (relative, the root as '.'), and the
    entries that could not be followed."""

    names: list[str]
    folders: list[str]
    broken: list[BrokenEntry]


def scan_model_folder(root: str | os.PathLike, suffixes: tuple[str, ...] = MODEL_SUFFIXES, kind: str = "",
                      diffusers_folders: bool = False) -> FolderScan:
    """Walk `root` following symbolic links (they are the owner's, e.g. to a big drive) without ever looping.

    Files ending in one of `suffixes` (any file when empty) are names; hidden files and folders are skipped; with
    `diffusers_folders`, a subfolder holding model_index.json is one name. A link to a folder that holds the link
    (a loop), a link whose target does not exist and a folder that cannot be read are `broken`, never followed.
    """
    root = Path(root)
    scan = FolderScan([], [], [])
    if link_problem(root):
        scan.broken.append(BrokenEntry(kind, "", root, link_problem(root)))
    pending = [(root, "", frozenset({os.path.realpath(root)}))]
    while pending:
        folder, relative, walked = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            if relative:
                scan.broken.append(BrokenEntry(kind, relative, folder, f"a folder that cannot be read "
                                                                       f"({error.strerror}), so its models are not "
                                                                       f"listed"))
            continue
        if diffusers_folders and relative and any(entry.name == DIFFUSERS_INDEX for entry in entries):
            scan.names.append(relative)  # its unet/, vae/ ... are parts, not models
            continue
        scan.folders.append(relative or ".")
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            name = f"{relative}/{entry.name}" if relative else entry.name
            if _is_folder(entry):
                real = os.path.realpath(entry.path)
                if real in walked or is_inside(real, folder):
                    scan.broken.append(BrokenEntry(kind, name, Path(entry.path), LINK_LOOP))
                else:
                    subfolders.append((Path(entry.path), name, walked | {real}))
            elif entry.is_symlink() and not os.path.exists(entry.path):
                scan.broken.append(BrokenEntry(kind, name, Path(entry.path), link_problem(entry.path)))
            elif not suffixes or entry.name.lower().endswith(suffixes):
                scan.names.append(name)
        pending.extend(reversed(subfolders))
    return scan


def _is_folder(entry: os.DirEntry) -> bool:
    """Whether the entry is a folder or a link to one."""
    try:
        return entry.is_dir()
    except OSError:
        return False


LINK_LOOP = ("a symbolic link to a folder that holds the link itself (a link loop), so it is not searched: remove the "
             "link or point it at another folder")


def link_problem(path: str | os.PathLike) -> str | None:
    """Why the symbolic link `path` cannot be followed (completing "<path> is ..."), or None when it can or when
    `path` is no link."""
    if not os.path.islink(path):
        return None
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symbolic link that leads back to itself through other links: fix or remove the link"
        return ("a symbolic link whose target does not exist (a drive that is not mounted, or a file that was moved "
                "or deleted): mount the drive, or fix or remove the link")
    return None


def searched_roots(folders: Folders, kind: str) -> list[Path]:
    """The roots a loader of `kind` searches, in order: those of every folder ComfyUI searches with it (models/unet
    with models/diffusion_models, models/clip with models/text_encoders), each once."""
    roots, seen = [], set()
    for searched in SEARCHED_TOGETHER.get(kind, (kind,)):
        for root in model_roots(folders, searched):
            if os.path.realpath(root) not in seen:
                seen.add(os.path.realpath(root))
                roots.append(root)
    return roots


def scan_models(folders: Folders, kind: str, roots: list[Path] | None = None) -> FolderScan:
    """Every root of `kind` (or the `roots` given) walked: names merged (sorted, each once: the first root wins a
    clash) and the broken entries of every root."""
    _check_kind(kind)
    names, broken = set(), []
    model_kind = KINDS_BY_FOLDER[kind]
    for root in model_roots(folders, kind) if roots is None else roots:
        found = scan_model_folder(root, model_kind.suffixes, kind=kind,
                                  diffusers_folders=kind in ("checkpoints", "diffusers"))
        names.update(name for name in found.names if not model_kind.folders_only or (root / name).is_dir())
        broken.extend(found.broken)
    return FolderScan(sorted(names, key=lambda name: (name.lower(), name)), [], broken)


def list_models(folders: Folders, kind: str) -> list[str]:
    """Model files (and, for checkpoints, diffusers folders) in every root a loader of the kind searches, sorted,
    "/"-separated.

    A name found in several roots is listed once (find_model gives the first root's file). Symbolic links are
    followed wherever they lead; dangling ones and loops are left out (scan_models names them).
    """
    return scan_models(folders, kind, searched_roots(folders, kind)).names


def find_model(folders: Folders, kind: str, name: str) -> Path:
    """The path of model `name` of `kind` in the first root that has it (links in it not resolved); FileNotFoundError
    or ValueError with a message a beginner can act on.

    The name comes from a workflow or a request: it may not be absolute or hold '..' (graph_engine.folders.
    join_inside); the links it passes through inside a root are followed, as the listing follows them.
    """
    roots = searched_roots(folders, kind)
    for root in roots:
        target = join_inside(root, name, f"{kind} folder")
        if os.path.exists(target):
            return target
    searched = "" if len(roots) == 1 else f" (searched: {', '.join(str(r) for r in roots)})"
    raise MissingFile(f"'{name}' is not in the {kind} folder: put the file in {roots[0]}{searched} "
                      f"(the list of files refreshes without a restart)")


def model_file_state(folders: Folders, kind: str, name: str) -> str:
    """A loader's IS_CHANGED: changes whenever the file is written or replaced (in place too, even with its mtime
    set back), so the engine's cache never serves a model loaded from an older version of the file."""
    try:
        path = find_model(folders, kind, name)
        identity = folder_identity(path) if os.path.isdir(path) else file_identity(path)
    except (OSError, ValueError):
        return name  # validation reports the missing file
    return f"{name}:{identity}"
