"""Files being written: the hidden temporary names writers use before the atomic rename, a lock that marks a
writer as alive, and the start-up sweep of files a killed writer left behind (`.saving-*.png.tmp`, ...).

A writer holds an exclusive `flock` on its temporary file until it has published it, so a sweep that runs while
another process (a CLI run beside a server) writes never removes a file still in use; the lock ends with the
process, `kill -9` included. Where `flock` is missing (Windows) a file cannot be removed while the writer has it
open, which guards it nearly as well.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

log = logging.getLogger(__name__)

SAVING = ".saving-"  # SaveImage and PreviewImage
UPLOADING = ".upload-"  # /upload/image and /upload/mask
# names as mkstemp makes them: prefix, 8 characters from [a-z0-9_], suffix; every writer's suffix ends in .tmp
_NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_PARTIAL_NAME = re.compile(r"\.(?:saving|upload)-[a-z0-9_]{8}(?:\.[A-Za-z0-9]+)*\.tmp")
_CREATE_FLAGS = (os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
                 | getattr(os, "O_BINARY", 0))


def is_partial_name(name: str) -> bool:
    """Whether `name` is a writer's temporary name: never served, removed at start-up when abandoned."""
    return _PARTIAL_NAME.fullmatch(name) is not None


def _lock(handle: int, wait: bool) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _still_named(handle: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(handle), os.stat(path))
    except FileNotFoundError:
        return False


def create_new_file(folder: str | Path, prefix: str, suffix: str) -> tuple[int, str]:
    """(handle, path) of a new file with a random name, as mkstemp makes, but with the usual mode for new files
    (0666 less the umask, as any program's): writers publish the file under its final name as it is, and
    mkstemp's 0600 would keep saved images, uploads and models from everyone but their owner."""
    for _ in range(tempfile.TMP_MAX):
        name = prefix + "".join(secrets.choice(_NAME_CHARACTERS) for _ in range(8)) + suffix
        path = os.path.join(folder, name)
        try:
            return os.open(path, _CREATE_FLAGS, 0o666), os.path.abspath(path)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {folder}")


def _create_locked(folder: str | Path, prefix: str, suffix: str) -> tuple[int, str]:
    """A new file, then the lock; a sweep may catch the file in between, and then a fresh one is made."""
    for _ in range(3):
        handle, path = create_new_file(folder, prefix, suffix)
        _lock(handle, wait=True)
        if _still_named(handle, path):
            return handle, path
        os.close(handle)
    raise OSError(f"temporary files in {folder} keep disappearing while being created")


@contextmanager
def partial_file(folder: str | Path, prefix: str, suffix: str = ".tmp") -> Iterator[str]:
    """The path of a new, empty, hidden temporary file in `folder`: write it, then give it its final name (rename
    or link) inside the block. The file is locked for the whole block; one still under its temporary name at the
    end (a failed write) is removed."""
    if not suffix.endswith(".tmp"):
        raise ValueError(f"a temporary file's suffix must end in .tmp, not '{suffix}'")
    handle, path = _create_locked(folder, prefix, suffix)
    if fcntl is None:
        os.close(handle)  # Windows cannot rename an open file; the writer's own open handle guards it there
        handle = None
    try:
        yield path
    finally:
        try:
            if os.path.lexists(path):
                os.unlink(path)
        finally:
            if handle is not None:
                os.close(handle)


def _remove_if_abandoned(path: str) -> bool:
    try:
        handle = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False  # gone already, a link, or not ours to open
    try:
        if not _lock(handle, wait=False):
            return False  # a live writer holds it
        os.unlink(path)
        return True
    except OSError:  # Windows: still open in a writer
        return False
    finally:
        os.close(handle)


def remove_abandoned_partials(folders: Iterable[str | Path]) -> int:
    """Remove the temporary files no live writer holds, in every folder and its subfolders (links not followed)."""
    removed = 0
    for folder in folders:
        for directory, _subfolders, names in os.walk(folder):
            removed += sum(_remove_if_abandoned(os.path.join(directory, name)) for name in names
                           if is_partial_name(name))
    if removed:
        log.info("removed %d unfinished file(s) left by writers that stopped mid-write", removed)
    return removed


def empty_folder(folder: str | Path) -> int:
    """Remove what is in `folder` (files, links, subfolders) except temporary files a live writer holds."""
    removed = 0
    for directory, subfolders, names in os.walk(folder, topdown=False):
        for name in names:
            path = os.path.join(directory, name)
            if is_partial_name(name):
                removed += _remove_if_abandoned(path)
                continue
            try:
                os.unlink(path)
                removed += 1
            except OSError as exc:
                log.warning("could not remove %s: %s", path, exc.strerror or exc)
        for name in subfolders:
            path = os.path.join(directory, name)
            try:
                if os.path.islink(path):
                    os.unlink(path)
                else:
                    os.rmdir(path)
            except OSError:
                pass  # a live writer's file is still inside
    return removed
