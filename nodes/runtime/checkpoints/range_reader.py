"""Read byte ranges of an open file into preallocated buffers with ordinary reads, large ranges in parallel parts.

Fresh memory costs a page fault per page the first time it is written, about as much as the copy out of the page
cache itself. Both happen inside the read call, outside the GIL, so threads that each fill one part of a buffer
read a large tensor several times faster than one thread, with no memory beyond the buffer.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import BinaryIO

from .errors import FileChangedError

PART_BYTES = 2 * 1024 * 1024  # ranges longer than this are split into parts of this size, read concurrently
READ_THREADS = min(4, os.cpu_count() or 1)
CAN_READ_IN_PARALLEL = hasattr(os, "preadv")  # reads at an offset without a shared file position (not on Windows)


class RangeReader:
    """Fills buffers from one open file; a read that comes up short means the file shrank: FileChangedError."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self.handle = handle
        self.path = path
        self._threads: ThreadPoolExecutor | None = None

    def read_into(self, target: memoryview, offset: int) -> None:
        """Fill `target` with the file's bytes from `offset` on."""
        if len(target) <= PART_BYTES or READ_THREADS < 2 or not CAN_READ_IN_PARALLEL:
            self._read_part(target, offset)
            return
        if self._threads is None:
            self._threads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="model-file-read")
        parts = [self._threads.submit(self._read_part, target[start:start + PART_BYTES], offset + start)
                 for start in range(0, len(target), PART_BYTES)]
        wait(parts)  # every part done before an error is raised: nothing writes into the buffer afterwards
        for part in parts:
            part.result()

    def close(self) -> None:
        """Stop the reading threads (the caller closes the file)."""
        if self._threads is not None:
            self._threads.shutdown()
            self._threads = None

    def _read_part(self, target: memoryview, offset: int) -> None:
        filled = 0
        while filled < len(target):
            count = self._read_at(target[filled:], offset + filled)
            if not count:
                raise FileChangedError(self.path)
            filled += count

    def _read_at(self, target: memoryview, offset: int) -> int:
        if CAN_READ_IN_PARALLEL:
            return os.preadv(self.handle.fileno(), [target], offset)
        self.handle.seek(offset)
        return self.handle.readinto(target)
