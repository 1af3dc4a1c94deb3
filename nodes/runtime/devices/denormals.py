"""Denormal floats flushed to zero on a CPU thread only while it computes a node.

x86 CPUs compute denormals up to 100x slower and random or badly scaled weights produce many of them; flushing
changes nothing visible in an image. The flag is per thread and outlives the call, so it is cleared when the node
returns: a thread that runs nodes in-process (the CLI, the Python API, a test) keeps IEEE floats for its own work.
"""
from __future__ import annotations

import threading

_this_thread = threading.local()


def flush_denormals() -> None:
    """Called on the thread about to compute on the CPU."""
    import torch

    torch.set_flush_denormal(True)
    _this_thread.flushed = True


def keep_ieee_floats() -> None:
    """Back to the default once a node is done, on a thread that flushed (others never touch torch here)."""
    if getattr(_this_thread, "flushed", False):
        import torch

        torch.set_flush_denormal(False)
        _this_thread.flushed = False
