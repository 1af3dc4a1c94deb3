"""Which version of a model file is on disk: enough to tell that it was rewritten, even in place with its mtime kept.

Size and mtime alone miss `cp --preserve=timestamps` (or any copy that sets the mtime back) onto the same path.
The ctime changes on every write and rename and cannot be set by the user, and device + inode tell a file replaced
by a rename from the one that was there.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FileIdentity:
    """One version of one file: equal identities mean the same bytes (as far as the file system can tell)."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, stat: os.stat_result) -> "FileIdentity":
        return cls(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)

    def __str__(self) -> str:
        return f"{self.device}:{self.inode}:{self.size}:{self.mtime_ns}:{self.ctime_ns}"


def file_identity(file: str | Path | int) -> FileIdentity:
    """The identity of a path, or of an open file by its descriptor (the file actually being read)."""
    return FileIdentity.of(os.stat(file))


def folder_identity(folder: str | Path) -> str:
    """The identities of every file under a folder (a diffusers model folder) as one string."""
    files = sorted(path for path in Path(folder).rglob("*") if path.is_file())
    return ";".join(f"{path.relative_to(folder)}={file_identity(path)}" for path in files)
