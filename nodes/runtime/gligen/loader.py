"""Load a GLIGEN file (.safetensors, or a pickle of plain tensors): read its layout, build the networks on meta,
fill them from the file, and hand them to the memory manager."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..checkpoints import CheckpointError, classify_file, open_checkpoint_file
from ..checkpoints.meta_modules import empty_module, fill_module
from ..devices import model_manager
from .layout import GligenLayout, NotAGligenLayout, read_gligen_layout
from .modules import GligenNetwork

log = logging.getLogger(__name__)


class GligenError(CheckpointError):
    """A file given as a GLIGEN model is something else; the message says what it is."""


@dataclass(eq=False)
class Gligen:
    """The value on a GLIGEN wire."""

    network: GligenNetwork
    layout: GligenLayout
    source: str

    @property
    def phrase_width(self) -> int:
        return self.layout.position.phrase_width

    def __repr__(self) -> str:
        return f"Gligen({self.source}: {len(self.layout.fusers)} fusers)"


def load_gligen(path: str | Path) -> Gligen:
    path = Path(path)
    with open_checkpoint_file(path) as opened:
        try:
            layout = read_gligen_layout(opened.shapes)
        except NotAGligenLayout as error:
            raise _not_a_gligen(path, opened.shapes, opened.metadata, str(error)) from None
        manager = model_manager()
        dtype = manager.weight_dtype()
        nbytes = sum(_count(opened.shapes[key]) for key in layout.renames) * dtype.itemsize
        device = manager.load_device(nbytes)
        weights = {name: opened.tensor(stored).to(device=device, dtype=dtype)
                   for stored, name in layout.renames.items()}
    network = fill_module(empty_module(lambda: GligenNetwork(layout.position, layout.fusers)), weights,
                          component="GLIGEN model", path=path, device=device)
    manager.track(network, f"{path.name} GLIGEN")
    log.info("loaded %s: GLIGEN with %d fusers", path.name, len(layout.fusers))
    return Gligen(network=network, layout=layout, source=path.name)


def _count(shape) -> int:
    count = 1
    for size in shape:
        count *= int(size)
    return count


def _not_a_gligen(path: Path, shapes, metadata, found: str) -> GligenError:
    kind = classify_file(shapes, metadata, str(path))
    if kind.kind != "unknown":
        return GligenError(path, f"{path} is {kind.description}, not a GLIGEN model: {kind.advice}")
    return GligenError(path, f"{path} is not a GLIGEN model Latentloom can load: {found}.")

