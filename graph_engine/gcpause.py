"""Pausing Python's cyclic garbage collector during the engine's own bookkeeping.

Validation and planning allocate many small, acyclic objects; each allocation burst
triggers collections whose cost grows with every live object (a 10,000-node prompt is
many), which made per-node overhead grow with graph size. Node functions always run with
the collector in its usual state.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the collector for the block, if it was enabled; restore it after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

