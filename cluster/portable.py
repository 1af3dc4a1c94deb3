"""Whether a node's result is plain data a worker can hand another (tensors, numbers, text, and lists, tuples and
dicts of them), and its copy for the object store with every tensor on the CPU (the receiver may have another
device, or none)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from graph_engine.calling import NodeResult

_SCALARS = (bool, int, float, str, type(None))


class NotPortable(Exception):
    """The value holds an object (a model, a patcher, a file handle) that must not travel."""


def portable_copy(result: NodeResult) -> tuple[NodeResult, int]:
    """The result with its tensors on the CPU, and the bytes they take; NotPortable when it holds anything else."""
    counted = [0]
    copy = replace(result, outputs=tuple(_copy(output, counted) for output in result.outputs),
                   ui=_copy(result.ui, counted))
    return copy, counted[0]


def _copy(value: Any, counted: list[int]) -> Any:
    import torch

    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, torch.Tensor):
        counted[0] += value.numel() * value.element_size()
        return value.detach().cpu()
    if type(value) in (list, tuple):
        return type(value)(_copy(item, counted) for item in value)
    if type(value) is dict and all(isinstance(key, (str, int)) for key in value):
        return {key: _copy(item, counted) for key, item in value.items()}
    raise NotPortable(type(value).__name__)
