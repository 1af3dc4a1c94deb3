"""Read byte ranges of an open file into preallocated buffers with ordinary reads, large ranges in parallel parts.

Fresh memory costs a page fault per page the first time it is written, about as much as the copy out of the page
cache itself. Both happen inside the read call, outside the GIL, so threads that each fill one part of a buffer
read a large tensor several times faster than one thread, with no memory beyond the buffer.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import BinaryIO

from .errors import FileChangedError

PART_BYTES = 2 * 1024 * 1024  # ranges longer than this are split into parts of this size, read concurrently
READ_THREADS = min(4, os.cpu_count() or 1)
CAN_READ_IN_PARALLEL = hasattr(os, "preadv")  # reads at an offset without a shared file position (not on Windows)
BUFFERS_PER_READ = 256  # well under any system's IOV_MAX (1024 on Linux)


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

    def read_consecutive(self, targets: Sequence[memoryview], offset: int) -> None:
        """Fill `targets` one after the other with the file's bytes from `offset` on, in the calling thread: one
        read call for them all where the system has scattered reads, so many small tensors cost one system call."""
        pending = [target for target in targets if len(target)]
        first = 0
        while first < len(pending):
            count = self._read_at(pending[first:first + BUFFERS_PER_READ], offset)
            if not count:
                raise FileChangedError(self.path)
            offset += count
            while count:  # skip the buffers now full; the one filled in part continues where it stopped
                if count >= len(pending[first]):
                    count -= len(pending[first])
                    first += 1
                else:
                    pending[first] = pending[first][count:]
                    count = 0

    def _read_part(self, target: memoryview, offset: int) -> None:
        self.read_consecutive([target], offset)

    def _read_at(self, targets: list[memoryview], offset: int) -> int:
        if CAN_READ_IN_PARALLEL:
            return os.preadv(self.handle.fileno(), targets, offset)
        self.handle.seek(offset)
        return self.handle.readinto(targets[0])
