"""Memory estimates at validation: a workflow whose inputs say it cannot fit is refused before it runs.

A node whose inputs tell how much it will allocate (an image size, a batch, a text length) declares

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes) -> NodeEstimate

`inputs` holds its constant inputs, converted as the node will get them; `sizes` holds a `ValueSize` for each input
whose size is known: linked inputs whose source estimated that output, and text constants. Sizes flow along links in
run order; a node without the hook passes nothing on. Estimates are lower bounds (what the node must allocate at
least), so a refusal never turns away work that would have fitted. A hook may raise `InputTooLarge` to refuse an
input outright, such as a prompt over its length cap, whatever memory is free.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from .errors import InputError
from .plan import Link, Node

log = logging.getLogger(__name__)

HOOK = "ESTIMATE_MEMORY"


@dataclass(frozen=True)
class ValueSize:
    """What validation knows of a value before it exists: its bytes and, for arrays and text, its shape."""

    nbytes: int
    shape: tuple[int, ...] = ()

    @classmethod
    def array(cls, shape: Sequence[int], itemsize: int = 4) -> ValueSize:
        """An array of `shape` (float32 unless told otherwise)."""
        shape = tuple(int(side) for side in shape)
        return cls(math.prod(shape) * itemsize, shape)

    @classmethod
    def text(cls, length: int) -> ValueSize:
        """A string of `length` characters (at least a byte each)."""
        return cls(length, (length,))


@dataclass(frozen=True)
class NodeEstimate:
    """A node's answer: the size of each output (None where unknown), the bytes it allocates while it runs (its new
    outputs and its scratch memory; not outputs that are its inputs passed on), and a few words on what is big."""

    outputs: tuple[ValueSize | None, ...] = ()
    new_bytes: int = 0
    note: str = ""


class InputTooLarge(ValueError):
    """Raised by an estimate hook to refuse one input whatever memory is free (a text over its cap, an image file with
    too many pixels)."""

    def __init__(self, input_name: str, message: str) -> None:
        super().__init__(message)
        self.input_name = input_name


def amount(nbytes: int) -> str:
    """Bytes as a person reads them, in binary units."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"


def estimate_memory(nodes: Mapping[str, Node], order: Sequence[str], budget: int | None) -> dict[str, InputError]:
    """Walk the run order once, asking each node with an estimate hook what it needs; return an error for each node
    whose estimate is over `budget` bytes (None: no budget, only refusals of single inputs)."""
    sizes: dict[str, tuple[ValueSize | None, ...]] = {}
    errors: dict[str, InputError] = {}
    for nid in order:
        node = nodes.get(nid)
        hook = getattr(node.spec.cls, HOOK, None) if node is not None else None
        if hook is None:
            continue
        linked = {name: size for name, link in node.links.items() if (size := _size_of(sizes, link)) is not None}
        known = {**{name: ValueSize.text(len(value)) for name, value in node.constants.items()
                    if isinstance(value, str)}, **linked}
        try:
            estimate = hook(dict(node.constants), known)
        except InputTooLarge as refusal:
            errors[nid] = InputError("input_too_large", str(refusal), f"node {nid} ({node.class_type})",
                                     refusal.input_name)
            continue
        except Exception:  # a plugin's broken estimate must not block its node: run it unchecked
            log.warning("the memory estimate of node %s (%s) failed; it runs unchecked", nid, node.class_type,
                        exc_info=True)
            continue
        if not isinstance(estimate, NodeEstimate):
            continue
        held = {link: linked[name].nbytes for name, link in node.links.items() if name in linked}
        needed = sum(held.values()) + estimate.new_bytes
        if budget is not None and needed > budget:
            errors[nid] = _over_budget(node, needed, budget, estimate.note)
            continue  # its outputs stay unknown: the nodes after it are not blamed for its size
        sizes[nid] = estimate.outputs
    return errors


def _size_of(sizes: Mapping[str, tuple[ValueSize | None, ...]], link: Link) -> ValueSize | None:
    outputs = sizes.get(link.source, ())
    return outputs[link.index] if link.index < len(outputs) else None


def _over_budget(node: Node, needed: int, budget: int, note: str) -> InputError:
    message = (f"Not enough memory: node {node.id} ({node.class_type}) needs an estimated {amount(needed)} "
               f"({needed} bytes), more than the {amount(budget)} ({budget} bytes) available")
    details = (f"{note}; " if note else "") + "make the sizes, batch or text that feed it smaller, or free memory"
    return InputError("memory_estimate_exceeded", message, details, None,
                      {"estimated_bytes": needed, "available_bytes": budget})
