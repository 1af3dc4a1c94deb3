"""The user's files (workflows, templates, subgraphs, user.css) under `user/default/`, as ComfyUI's frontend lists,
reads, writes, moves and deletes them.

Names come from requests: each is resolved inside the user's folder (symbolic links followed, '..' and absolute
paths refused), so nothing else under `user/` (the queue's database) or beyond is reachable. Files are written
whole under a hidden temporary name and renamed; those temporary files are never listed.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from graph_engine.folders import resolve_inside
from graph_engine.partial_files import is_partial_name

from .uploads import write_atomically
from .user_settings import DEFAULT_USER

WHAT = "user data folder"


class UserDataError(Exception):
    """A request the user's files cannot serve; `status` as ComfyUI answers it (403, 404, 409)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def user_root(user_folder: Path) -> Path:
    return user_folder / DEFAULT_USER


def user_file(user_folder: Path, name: str) -> Path:
    """The real path of `name` (one URL-encoded relative path, e.g. 'workflows%2Fa.json') inside the user's folder."""
    if "%" in name:  # encoded once more by the client, as ComfyUI accepts
        name = unquote(name)
    root = user_root(user_folder)
    root.mkdir(parents=True, exist_ok=True)
    try:
        return resolve_inside(root, name, WHAT)
    except ValueError as error:
        raise UserDataError(str(error), 403) from None


def file_info(path: Path, relative_to: Path) -> dict[str, Any]:
    """ComfyUI's FileInfo: the path relative to `relative_to` with '/', size, and times in milliseconds."""
    stat = path.stat()
    return {"path": path.relative_to(relative_to).as_posix(), "size": stat.st_size,
            "modified": int(stat.st_mtime * 1000), "created": int(stat.st_ctime * 1000)}


def list_files(user_folder: Path, directory: str, recurse: bool, full_info: bool, split: bool) -> list[Any]:
    """The files of `directory` (not its folders; with `recurse`, those below it too), relative to it: paths, path
    parts ([path, *parts], with `split`) or FileInfo objects (with `full_info`)."""
    folder = user_file(user_folder, directory)
    if not folder.is_dir():
        raise UserDataError(f"the {WHAT} has no folder '{directory}'", 404)
    found = folder.rglob("*") if recurse else folder.glob("*")
    # as ComfyUI's glob: names starting with '.' (a writer's temporary files among them) are left out
    files = sorted(path for path in found
                   if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts))
    if full_info:
        return [file_info(path, folder) for path in files]
    relative = [path.relative_to(folder).as_posix() for path in files]
    return [[path, *path.split("/")] for path in relative] if split else relative


def list_tree(user_folder: Path, directory: str) -> list[dict[str, Any]]:
    """Everything below `directory` ('' for the whole folder), folders first then files, each by name: ComfyUI's
    /v2/userdata entries with paths relative to the user's folder."""
    root = user_root(user_folder)
    root.mkdir(parents=True, exist_ok=True)  # a new user's empty folder lists as empty, as ComfyUI's
    folder = user_file(user_folder, directory) if directory else root.resolve()
    if not folder.exists():
        raise UserDataError(f"the {WHAT} has no '{directory}'", 404)
    if not folder.is_dir():
        raise UserDataError(f"'{directory}' in the {WHAT} is a file, not a folder", 400)
    entries = []
    for path in folder.rglob("*"):
        if _hidden(path.relative_to(folder)):
            continue
        entry: dict[str, Any] = {"name": path.name, "path": path.relative_to(root.resolve()).as_posix(),
                                 "type": "directory" if path.is_dir() else "file"}
        if entry["type"] == "file":
            stat = path.stat()
            entry.update(size=stat.st_size, modified=stat.st_mtime)
        entries.append(entry)
    return sorted(entries, key=lambda entry: (entry["type"] != "directory", entry["name"].lower()))


def write_file(user_folder: Path, name: str, data: bytes, overwrite: bool) -> Path:
    path = user_file(user_folder, name)
    if path.is_dir():
        raise UserDataError(f"'{name}' is a folder in the {WHAT}", 409)
    if path.exists() and not overwrite:
        raise UserDataError(f"'{name}' already exists in the {WHAT}", 409)
    write_atomically(path.parent, path.name, data)
    return path


def move_file(user_folder: Path, name: str, destination: str, overwrite: bool) -> Path:
    source = existing_file(user_folder, name)
    target = user_file(user_folder, destination)
    if target.exists() and not overwrite:
        raise UserDataError(f"'{destination}' already exists in the {WHAT}", 409)
    if target.is_dir():
        raise UserDataError(f"'{destination}' is a folder in the {WHAT}", 409)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return target


def existing_file(user_folder: Path, name: str) -> Path:
    path = user_file(user_folder, name)
    if not path.is_file():
        raise UserDataError(f"the {WHAT} has no file '{name}'", 404)
    return path


def _hidden(relative: Path) -> bool:
    """A writer's temporary file (never listed)."""
    return is_partial_name(relative.name)
