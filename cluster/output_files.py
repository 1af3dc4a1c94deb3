"""Files a worker wrote where the server cannot read them (another machine, another base folder): read there as the
node that wrote them reports them, and stored under the server's folders. A name already taken there gets a fresh
one, and the messages and the history name the file as stored."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from graph_engine.folders import Folders, resolve_inside
from graph_engine.partial_files import UPLOADING, partial_file

log = logging.getLogger(__name__)

FILE_TYPES = ("output", "temp")  # the folders a node's ui names files in ("input" files are the user's own)
MAX_RENAMES = 10000


def file_entries(ui: Any) -> list[dict]:
    """The {filename, subfolder, type} entries of a node's ui (images, gifs, audio, ...)."""
    if not isinstance(ui, dict):
        return []
    return [item for values in ui.values() if isinstance(values, list) for item in values
            if isinstance(item, dict) and isinstance(item.get("filename"), str) and item.get("type") in FILE_TYPES]


def _folder(folders: Folders, kind: str) -> Path:
    return folders.output if kind == "output" else folders.temp


def read_files(folders: Folders, ui: Any) -> list[tuple[str, str, str, bytes]]:
    """(type, subfolder, filename, bytes) of each file a node's ui names, read on the worker."""
    files = []
    for entry in file_entries(ui):
        subfolder = entry.get("subfolder") or ""
        try:
            path = resolve_inside(_folder(folders, entry["type"]), os.path.join(subfolder, entry["filename"]),
                                  f"{entry['type']} folder")
            files.append((entry["type"], subfolder, entry["filename"], path.read_bytes()))
        except (OSError, ValueError) as exc:
            log.warning("cannot send %s back to the server: %s", entry["filename"], exc)
    return files


class ReceivedFiles:
    """The server's side for one run: stores the files, and names them as stored in what the run reports."""

    def __init__(self, folders: Folders) -> None:
        self.folders = folders
        self._renamed: dict[tuple[str, str, str], str] = {}

    def store(self, kind: str, subfolder: str, filename: str, data: bytes) -> None:
        """Write the file under the server's folder of `kind`, never over an existing file."""
        target = resolve_inside(_folder(self.folders, kind), os.path.join(subfolder, filename), f"{kind} folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        with partial_file(target.parent, UPLOADING) as temporary:
            Path(temporary).write_bytes(data)
            for attempt in range(MAX_RENAMES):
                name = target.name if attempt == 0 else f"{target.stem}-{attempt}{target.suffix}"
                try:
                    os.link(temporary, target.parent / name)
                except FileExistsError:
                    continue
                if name != filename:
                    self._renamed[(kind, subfolder, filename)] = name
                    log.info("%s from a worker is stored as %s (the name was taken)", filename, name)
                return
        raise FileExistsError(f"no free name for {filename} in the {kind} folder")

    def renamed(self, value: Any) -> Any:
        """`value` (an executed message's data, or a run's outputs) with every stored file under its stored name."""
        if isinstance(value, dict):
            key = (value.get("type"), value.get("subfolder") or "", value.get("filename"))
            if key in self._renamed:
                return {**value, "filename": self._renamed[key]}
            return {name: self.renamed(item) for name, item in value.items()}
        if isinstance(value, list):
            return [self.renamed(item) for item in value]
        return value
