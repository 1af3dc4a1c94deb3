"""Read the tensors a loader is about to ask for on background threads, in the order it will ask, while it builds
its modules.

A read releases the GIL for its page faults and copies, so it runs beside the Python work of building empty modules
and renaming weights. Neighbouring small tensors are read by one call into their own buffers: a reading thread then
needs the GIL once per few megabytes, not once per tensor (a thread waiting for the GIL behind pure Python work
waits up to the interpreter's switch interval). Each tensor is prepared (converted, moved to its device) by the
thread that read it, so a converted tensor's file-dtype buffer lives only while that thread converts it.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

ReadRun = Callable[[Sequence[str]], "dict[str, torch.Tensor]"]
Prepare = Callable[[str, "torch.Tensor"], "torch.Tensor"]


class ReadAhead:
    """Reads `runs` (groups of tensors stored one after the other) in order on `threads` threads and prepares each
    tensor; `take(key)` hands one over once, waiting for it if need be. A failed read stops the reads not yet
    started, and taking any of their tensors raises that failure. `close()` cancels what has not started and waits
    for what has, so no thread outlives it."""

    def __init__(self, runs: Sequence[Sequence[str]], read_run: ReadRun, prepare: Prepare, threads: int) -> None:
        self._read_run = read_run
        self._prepare = prepare
        self._failure: BaseException | None = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max(threads, 1), thread_name_prefix="model-file-read-ahead")
        self._pending: dict[str, Future] = {}
        for run in runs:
            future = self._executor.submit(self._read, tuple(run))
            self._pending.update(dict.fromkeys(run, future))

    def take(self, key: str) -> "torch.Tensor | None":
        """The prepared tensor `key`, once; None when it was not planned or was taken already."""
        future = self._pending.pop(key, None)
        if future is None:
            return None
        tensors = future.result()  # raises the failure of this tensor's own read
        if tensors is None:
            raise self._failure  # an earlier read failed, so this one never started
        return tensors.pop(key)

    def close(self) -> None:
        """Cancel the reads not started, wait for those running, and drop the tensors nobody took."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()

    def _read(self, run: tuple[str, ...]) -> "dict[str, torch.Tensor] | None":
        if self._failure is not None:
            return None
        try:
            stored = self._read_run(run)
            return {key: self._prepare(key, stored.pop(key)) for key in run}  # each buffer dropped once prepared
        except BaseException as error:
            with self._lock:
                if self._failure is None:
                    self._failure = error
            raise
