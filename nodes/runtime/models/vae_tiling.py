"""Running a VAE over an image in overlapping tiles, so that a big image decodes (or encodes) in the memory of one tile.

The layout follows ComfyUI's, so that a tiled result is the same as there: tiles start every `tile - overlap`
samples and the last one is cut short at the edge; each tile's result is weighted by a feather that ramps linearly over
`overlap` (scaled to the output) at its borders, and the weighted results are divided by the summed weights. Seams
still show a little, since a tile sees less context than the whole image; averaging three passes whose tiles have
different shapes (tall, wide and square) puts their seams in different places and softens them.
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import TypeVar

import torch

from graph_engine import current_context

from ..devices import is_out_of_memory
from ..devices.memory import empty_cache, free_device_memory

log = logging.getLogger(__name__)
T = TypeVar("T")
TileFunction = Callable[[torch.Tensor], torch.Tensor]


def three_tile_shapes(tile: int | tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """The (height, width) of the tiles of each pass: taller, wider and as given (`tile` x `tile`, or (height,
    width)), each of the same area."""
    height, width = (tile, tile) if isinstance(tile, int) else tile
    return (height * 2, width // 2), (height // 2, width * 2), (height, width)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where the tiles along one axis of `length` samples begin; one tile when the axis fits in it."""
    if length <= tile:
        return [0]
    if tile <= overlap:
        raise ValueError(f"a tile of {tile} must be longer than its overlap of {overlap}")
    return list(range(0, length - overlap, tile - overlap))


def tile_count(height: int, width: int, tile_shape: tuple[int, int], overlap: int) -> int:
    return len(tile_starts(height, tile_shape[0], overlap)) * len(tile_starts(width, tile_shape[1], overlap))


def feather(length: int, ramp: int) -> torch.Tensor:
    """Weights along one axis of a tile's result: rising as (i + 1) / ramp over the first `ramp` samples and falling
    likewise over the last (the two multiply where they meet); all ones when the ramp does not fit in the tile."""
    if ramp >= length:
        return torch.ones(length)
    index = torch.arange(length, dtype=torch.float32)
    return ((index + 1) / ramp).clamp(max=1.0) * ((length - index) / ramp).clamp(max=1.0)


class TileProgress:
    """Counts tiles done and reports them as the running node's progress (which also checks for an interrupt)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0

    def __call__(self) -> None:
        self.done += 1
        context = current_context()
        if context is not None:
            context.progress(self.done, self.total)


def tiled_map(sample: torch.Tensor, function: TileFunction, tile_shape: tuple[int, int], overlap: int,
              scale: float, on_tile: Callable[[], None] | None = None) -> torch.Tensor:
    """`function` applied to one sample [1, C, H, W] tile by tile, the tiles blended: [1, C', H*scale, W*scale].

    `function` maps a tile of h x w to round(h*scale) x round(w*scale) samples; `overlap` is in input samples."""
    height, width = sample.shape[-2:]
    out_height, out_width = round(height * scale), round(width * scale)
    ramp = round(overlap * scale)
    total: torch.Tensor | None = None
    weights = torch.zeros(1, 1, out_height, out_width)
    for top, left in itertools.product(tile_starts(height, tile_shape[0], overlap),
                                       tile_starts(width, tile_shape[1], overlap)):
        result = function(sample[..., top:top + tile_shape[0], left:left + tile_shape[1]]).float().cpu()
        if total is None:
            total = torch.zeros(1, result.shape[1], out_height, out_width)
        out_top, out_left = round(top * scale), round(left * scale)
        rows, cols = min(result.shape[-2], out_height - out_top), min(result.shape[-1], out_width - out_left)
        weight = feather(result.shape[-2], ramp)[:rows, None] * feather(result.shape[-1], ramp)[None, :cols]
        total[..., out_top:out_top + rows, out_left:out_left + cols] += result[..., :rows, :cols] * weight
        weights[..., out_top:out_top + rows, out_left:out_left + cols] += weight
        if on_tile is not None:
            on_tile()
    return total / weights


def blended_tile_passes(samples: torch.Tensor, function: TileFunction, tile: int | tuple[int, int], overlap: int,
                        scale: float) -> torch.Tensor:
    """`function` over a batch [B, C, H, W] in the three passes of `three_tile_shapes(tile)`, averaged; one image at a
    time, reporting each tile as progress."""
    shapes = three_tile_shapes(tile)
    batch, _channels, height, width = samples.shape
    progress = TileProgress(batch * sum(tile_count(height, width, shape, overlap) for shape in shapes))
    output: torch.Tensor | None = None
    for index in range(batch):
        total: torch.Tensor | None = None
        for shape in shapes:
            blended = tiled_map(samples[index:index + 1], function, shape, overlap, scale, progress)
            total = blended if total is None else total.add_(blended)
        if output is None:
            output = torch.empty((batch, *total.shape[1:]))
        output[index] = total[0] / len(shapes)
    return output


def whole_or_tiles(whole: Callable[[], T], tiled: Callable[[], T], device: torch.device, what: str,
                   whole_bytes: int) -> T:
    """`tiled()` at once when the whole image's estimate (`whole_bytes`, a lower bound) is over the device's free
    memory: on a CPU such an attempt may not fail cleanly but get the process killed, or push the system into swap.
    Otherwise `whole()`, falling back to `tiled()` if it runs out of memory after all."""
    free = free_device_memory(device)
    if whole_bytes > free:
        log.info("%s the whole image needs at least %.0f MiB, %.0f MiB are free: in tiles", what, whole_bytes / 2**20,
                 free / 2**20)
        return tiled()
    return tiles_when_out_of_memory(whole, tiled, device, what)


def tiles_when_out_of_memory(whole: Callable[[], T], tiled: Callable[[], T], device: torch.device, what: str) -> T:
    """`whole()`, or `tiled()` when the whole image does not fit in the device's memory."""
    try:
        return whole()
    except Exception as error:  # noqa: BLE001 - only out-of-memory errors are handled, the rest re-raised
        if not is_out_of_memory(error):
            raise
        log.warning("ran out of memory %s the whole image (%s); retrying in tiles", what, error)
    # Outside the except block, so that the failed attempt's tensors are released before the tiles run.
    empty_cache(device)
    return tiled()
