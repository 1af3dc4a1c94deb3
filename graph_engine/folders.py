"""Where an installation keeps its files: models (several roots per kind), input, output, temp and user folders.

One `Folders` value describes one installation. Start-up builds it once; the engine makes it current around every
call into node code (`context.current_folders()`), and code outside an engine call is handed it. Model kinds are
only names here ("checkpoints", "controlnet", ...): which kinds exist is the application's business.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelRoot:
    """A folder searched for one kind of model, and why (shown by `latentloom models paths`)."""

    kind: str
    path: Path
    origin: str


DEFAULT_ROOT = "default"  # the origin of <models>/<kind>, the first root of every kind


@dataclass(frozen=True)
class Folders:
    """The folders of one installation; every one lives under `base` unless overridden.

    `extra_model_roots` are the model folders searched after `<models>/<kind>`, in order (the `--<kind>-dir` flags,
    then extra_model_paths.yaml); `model_roots(kind)` gives a kind's whole search order.
    """

    base: Path
    models: Path
    input: Path
    output: Path
    temp: Path
    user: Path
    extra_model_roots: tuple[ModelRoot, ...] = ()

    @classmethod
    def under(cls, base: str | Path, *, models: str | Path | None = None, input: str | Path | None = None,
              output: str | Path | None = None, extra_model_roots: Iterable[ModelRoot] = ()) -> "Folders":
        base = Path(base).resolve()
        pick = lambda given, name: Path(given).resolve() if given else base / name  # noqa: E731
        extra = tuple(ModelRoot(root.kind, Path(root.path).resolve(), root.origin) for root in extra_model_roots)
        return cls(base=base, models=pick(models, "models"), input=pick(input, "input"),
                   output=pick(output, "output"), temp=base / "temp", user=base / "user", extra_model_roots=extra)

    def model_roots(self, kind: str) -> list[ModelRoot]:
        """The roots of `kind` in search order: `<models>/<kind>` first (where new files go), then the extra roots
        named for it; a folder named twice is searched once."""
        roots, seen = [], set()
        for root in (ModelRoot(kind, self.models / kind, DEFAULT_ROOT),
                     *(root for root in self.extra_model_roots if root.kind == kind)):
            real = os.path.realpath(root.path)
            if real not in seen:
                seen.add(real)
                roots.append(root)
        return roots

    def create(self) -> None:
        """Make the folders that a run writes to."""
        for path in (self.models, self.input, self.output, self.temp, self.user):
            path.mkdir(parents=True, exist_ok=True)


def is_inside(folder: str | Path, path: str | Path) -> bool:
    """Whether the real path of `path` (links followed) lies in the real path of `folder`."""
    base = os.path.realpath(folder)
    return os.path.commonpath((base, os.path.realpath(path))) == base


def resolve_inside(folder: str | Path, name: str, what: str) -> Path:
    """The real path of `name` under `folder` (`what` names the folder in messages, e.g. "input folder").

    Names come from workflows and requests, so they are untrusted: ValueError when the name is empty or would
    leave the folder through '..', an absolute path or a symbolic link.
    """
    _check_relative_name(name, what)
    target = os.path.realpath(os.path.join(os.path.realpath(folder), name))
    if not is_inside(folder, target):
        raise ValueError(f"'{name}' points outside the {what}: only files inside it can be used")
    return Path(target)


def join_inside(folder: str | Path, name: str, what: str) -> Path:
    """`name` under `folder`, judged by its words alone: ValueError when it is empty, absolute or holds a '..' part.

    For model folders, where symbolic links are the machine owner's way to keep models on another drive: the
    links a name passes through are followed wherever they lead, while the name itself (from a workflow or a
    request) can still only go down from the folder. Input and output folders use resolve_inside.
    """
    _check_relative_name(name, what)
    if ".." in re.split(r"[\\/]", name):
        raise ValueError(f"'{name}' leads outside the {what} ('..' is not allowed): give a name from the folder's "
                         f"list")
    return Path(folder) / name


def _check_relative_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"no file name given for the {what}")
    if "\0" in name:
        shown = name.replace("\0", "\\0")
        raise ValueError(f"'{shown}' holds a NUL character: give a file name inside the {what}")
    if os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        raise ValueError(f"'{name}' is an absolute path: give a file name inside the {what}")
