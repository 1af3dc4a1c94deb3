"""Recognise an out-of-memory error, explain it to the user, and retry a node once after freeing memory.

Imports no torch: the engine can ask `is_out_of_memory` about any error; a torch error implies torch is loaded."""
from __future__ import annotations

import gc
import logging
import re
import sys
from typing import Callable, TypeVar

from graph_engine import UserFacingError

log = logging.getLogger(__name__)
T = TypeVar("T")

_ALLOCATE = re.compile(r"Tried to allocate\s+([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?i?B)", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_ADVICE = "Try --lowvram, a smaller image size or batch size, or fewer models at once."


def is_out_of_memory(error: BaseException) -> bool:
    """True for torch's OutOfMemoryError (CUDA's is the same class) and for RuntimeErrors saying "out of memory"
    (older torch, MPS, cuDNN), the errors that freeing device memory may cure."""
    torch = sys.modules.get("torch")
    if torch is not None:
        cuda = getattr(torch, "cuda", None)
        kinds = (getattr(torch, "OutOfMemoryError", None), getattr(cuda, "OutOfMemoryError", None))
        if any(isinstance(kind, type) and isinstance(error, kind) for kind in kinds):
            return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def requested_memory(error: BaseException) -> tuple[str, int] | None:
    """The amount the failed allocation asked for, as written in the message ("2.00 GiB") and in bytes."""
    found = _ALLOCATE.search(str(error))
    if found is None:
        return None
    number, unit = found.groups()
    return f"{number} {unit}", int(float(number) * _UNITS[unit.lower()])


def describe_out_of_memory(error: BaseException) -> str:
    """One short sentence for the user: how much was asked for, when the message says, and what to try."""
    amount = requested_memory(error)
    if amount is None:
        return f"Ran out of device memory. {_ADVICE}"
    return f"Ran out of device memory while allocating {amount[0]}. {_ADVICE}"


class NodeOutOfMemoryError(RuntimeError, UserFacingError):
    """A node ran out of memory even after the models were unloaded and the caches emptied; the run ends here."""

    def __init__(self, node: str, error: BaseException) -> None:
        amount = requested_memory(error)
        self.node = node
        self.requested_bytes = amount[1] if amount else None
        super().__init__(f"Node {node}: {describe_out_of_memory(error)}")


def run_with_memory_retry(work: Callable[[], T], *, node: str,
                          free_caches: Callable[[], None] | None = None) -> T:
    """Run `work`; on an out-of-memory error unload every model (and call `free_caches`, e.g. the engine's output
    cache), then run it once more. A second out-of-memory error becomes a NodeOutOfMemoryError naming `node`."""
    try:
        return work()
    except BaseException as error:  # noqa: BLE001 - only out-of-memory errors are handled, the rest re-raised
        if not is_out_of_memory(error):
            raise
        log.warning("node %s ran out of memory (%s); freeing memory and retrying once", node, error)
    # Outside the except block: the traceback (and the tensors its frames hold) is released before the retry.
    _release_memory(free_caches)
    try:
        return work()
    except BaseException as error:  # noqa: BLE001
        if not is_out_of_memory(error):
            raise
        raise NodeOutOfMemoryError(node, error) from error


def _release_memory(free_caches: Callable[[], None] | None) -> None:
    if free_caches is not None:
        free_caches()
    gc.collect()
    from .current import model_manager  # torch is loaded: the error came from it

    model_manager().free()
