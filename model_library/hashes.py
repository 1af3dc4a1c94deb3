"""The hashes users compare model files by, computed once per version of a file and kept in SQLite.

AUTOMATIC1111 and the sites that read its metadata name a checkpoint by "Model hash" (the first 10 hex digits of
the file's sha256) and a LoRA by the first 12 hex digits of its "addnet" hash (for .safetensors the sha256 of the
bytes after the header, so editing the metadata keeps the hash; for other files the whole file's sha256). Hashing
a multi-GB file takes seconds, so results are stored keyed by path and file identity (device, inode, size, mtime and
ctime): a listing of hundreds of files is instant the second time, and a file replaced or rewritten in place (even
with its mtime set back) is hashed again. Each installation keeps its own database, `user/model_hashes.sqlite`,
opened for one piece of work (a listing, an install, a saved image) by `open_hash_cache(folders)`.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from graph_engine import Folders

from .file_identity import file_identity

CHUNK = 1024 * 1024
HASH_DATABASE = "model_hashes.sqlite"  # in the installation's user folder

# file_hashes (keyed by size and mtime only) is the table of earlier versions: its rows cannot be trusted
_SCHEMA = """
DROP TABLE IF EXISTS file_hashes;
CREATE TABLE IF NOT EXISTS file_version_hashes (
    path TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    tensor_sha256 TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class FileHashes:
    """The sha256 of the whole file and of its tensor bytes (the same for files that are not safetensors)."""

    sha256: str
    tensor_sha256: str

    @property
    def model_hash(self) -> str:
        """A1111's "Model hash" of a checkpoint."""
        return self.sha256[:10]

    @property
    def lora_hash(self) -> str:
        """A1111's short hash of a LoRA, as written in "Lora hashes"."""
        return self.tensor_sha256[:12]


def file_sha256(path: str | Path) -> str:
    """sha256 of a whole file, streamed so multi-GB models do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def compute_hashes(path: str | Path) -> FileHashes:
    """Read the file once, feeding both digests (the tensor digest starts after a safetensors header)."""
    whole, tensors = hashlib.sha256(), hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        tensor_start = _safetensors_data_start(handle, os.fstat(handle.fileno()).st_size)
        handle.seek(0)
        position = 0
        while chunk := handle.read(CHUNK):
            whole.update(chunk)
            if tensor_start is not None and position + len(chunk) > tensor_start:
                tensors.update(chunk[max(tensor_start - position, 0):])
            position += len(chunk)
    sha256 = whole.hexdigest()
    return FileHashes(sha256, tensors.hexdigest() if tensor_start is not None else sha256)


def _safetensors_data_start(handle, size: int) -> int | None:
    """Where the tensor bytes begin when the file starts like a safetensors file, else None."""
    prefix = handle.read(9)
    if len(prefix) < 9 or prefix[8:9] != b"{":
        return None
    (header_length,) = struct.unpack("<Q", prefix[:8])
    start = 8 + header_length
    return start if start <= size else None


class HashCache:
    """Hashes by (real path, file identity); `path=None` keeps them in memory only (tests, one-off commands)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path) if self.path else ":memory:", check_same_thread=False,
                                   isolation_level=None, timeout=30)
        _set_up(self._db)
        self.computed = 0  # files hashed (not found in the cache) since this cache was opened

    def cached(self, path: str | Path) -> FileHashes | None:
        """The stored hashes if the file is unchanged since they were computed; never reads the file."""
        key, identity = file_version_key(path)
        with self._lock:
            row = self._db.execute("SELECT identity, sha256, tensor_sha256 FROM file_version_hashes WHERE path = ?",
                                   (key,)).fetchone()
        if row is None or row[0] != identity:
            return None
        return FileHashes(row[1], row[2])

    def hashes(self, path: str | Path) -> FileHashes:
        """The file's hashes, computed (and stored) only when the file is new or changed."""
        found = self.cached(path)
        if found is not None:
            return found
        key, identity = file_version_key(path)
        result = compute_hashes(key)
        if file_version_key(path)[1] != identity:  # written to while it was read: not kept, the next call reads it again
            return result
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO file_version_hashes VALUES (?, ?, ?, ?)",
                             (key, identity, result.sha256, result.tensor_sha256))
            self.computed += 1
        return result

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> HashCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _set_up(db: sqlite3.Connection, attempts: int = 20) -> None:
    """WAL mode and the tables. Switching a new database to WAL while another connection (two installs at once, the
    CLI beside the server) does the same can fail at once with "database is locked", without waiting for the busy
    timeout: such a start is tried again after a growing pause."""
    for attempt in range(attempts):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


def open_hash_cache(folders: Folders) -> HashCache:
    """The hash database of the installation `folders` describes, shared by every command and the server; close it
    when done (`with open_hash_cache(folders) as cache:`)."""
    return HashCache(folders.user / HASH_DATABASE)


def file_version_key(path: str | Path) -> tuple[str, str]:
    """(real path, identity): which version of which file a hash belongs to."""
    real = os.path.realpath(path)
    return real, str(file_identity(real))

