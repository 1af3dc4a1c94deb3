"""CPU tensor memory kept by the C allocator while a node runs, and handed back to the system when it returns.

torch allocates CPU tensors with malloc and keeps no cache of its own. glibc serves every block over its mmap
threshold (at most 32 MiB) with a fresh mapping and unmaps it on free, and trims the top of its heap as soon as the
free memory there passes the trim threshold. A UNet step allocates and frees many such blocks (activations, the
kernels' scratch buffers), so every step faults and zeroes the same memory again: a fifth to a half of a
KSampler call at 256 to 64 px on two CPU cores (bench/host_heap.py). With both thresholds raised, freed blocks
stay in the heap and the next step reuses them; `malloc_trim` after a node that computed and left 64 MiB or more
free returns it, so an idle process holds little more than before and an evicted model's memory goes back to the
system. Threads started from then on (the server's worker, the loader's reading threads) share the one main heap:
with an arena of their own each, the weights of evicted checkpoints left fragments that no trim returned
(bench/memory_soak.py's small budget: RSS +8% over 180 reloads, against +0.1% with one arena).

Only glibc has these knobs; elsewhere (musl, macOS, Windows) these functions do nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

log = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# The largest value mallopt takes (an int): blocks up to 2 GiB come from the heap, larger ones are still mapped.
KEEP_UP_TO_BYTES = 2**31 - 1
# A trim walks the heap's free lists (tens of microseconds): not worth it after a node that ran shorter than this.
TRIM_AFTER_SECONDS = 0.005
# ...and it hands back every free page, which the next node faults in again (8 ms after a 512 px SaveImage): only
# worth it when the heap holds this much free memory (a sampler's activations at large sizes, an evicted model).
TRIM_WHEN_FREE_BYTES = 64 * 2**20


class _MallInfo2(ctypes.Structure):
    """glibc's `struct mallinfo2` (2.33 and later): what its heap holds, in bytes."""

    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]


@cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (the knobs below are glibc's), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Serve and keep freed blocks from the heap instead of mapping and unmapping each one; True when set."""
    libc = _glibc()
    if libc is None:
        return False
    settings = ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, KEEP_UP_TO_BYTES), (M_TRIM_THRESHOLD, KEEP_UP_TO_BYTES))
    kept = all(libc.mallopt(parameter, value) for parameter, value in settings)
    if not kept:
        log.warning("the C library refused the heap settings: CPU steps fault their memory in again each time")
    return kept


def return_freed_memory(at_least: int = 0) -> None:
    """Hand the heap's free pages back to the system when it holds `at_least` free bytes (after a node: what it
    freed is not reused soon)."""
    libc = _glibc()
    if libc is not None and (at_least <= 0 or _free_heap_bytes(libc) >= at_least):
        libc.malloc_trim(0)


def _free_heap_bytes(libc: ctypes.CDLL) -> int:
    """Free bytes inside the heap; as if plenty where the C library cannot say (before glibc 2.33)."""
    mallinfo2 = getattr(libc, "mallinfo2", None)
    if mallinfo2 is None:
        return TRIM_WHEN_FREE_BYTES
    mallinfo2.restype = _MallInfo2
    return mallinfo2().fordblks


@contextmanager
def freed_memory_returned(min_seconds: float = TRIM_AFTER_SECONDS) -> Iterator[None]:
    """Return the heap's free pages after the block when it ran at least `min_seconds` (a node's computation) and
    the heap holds TRIM_WHEN_FREE_BYTES free: what is left goes back after a later node."""
    started = time.perf_counter()
    try:
        yield
    finally:
        if time.perf_counter() - started >= min_seconds:
            return_freed_memory(at_least=TRIM_WHEN_FREE_BYTES)
