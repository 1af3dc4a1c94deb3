"""File names from workflows and requests are untrusted: they may only name files inside their folder."""
from __future__ import annotations

import os
from pathlib import Path


def resolve_inside(folder: Path, name: str, what: str) -> Path:
    """The real path of `name` under `folder` (`what` names the folder in messages, e.g. "input folder");
    ValueError when it is empty or would leave the folder (.., an absolute path, a symlink out)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"no file name given for the {what}")
    if os.path.isabs(name):
        raise ValueError(f"'{name}' is an absolute path: give a file name inside the {what} {folder}")
    base = os.path.realpath(folder)
    target = os.path.realpath(os.path.join(base, name))
    if os.path.commonpath((base, target)) != base:
        raise ValueError(f"'{name}' points outside the {what} {folder}: only files inside it can be loaded")
    return Path(target)
