"""Run an upscale model over an image in overlapping tiles, as ComfyUI does, so any image size fits in memory.

Tiles start every `tile - overlap` pixels (the last ones may be narrower, cut by the edge). Each upscaled tile is
weighted by a ramp over its `overlap * scale` border pixels, rising from 1/n to 1, and the weighted sum is divided
by the sum of the weights, so seams blend. An image no larger than one tile is one call. On out-of-memory the tile
size halves, down to MIN_TILE.
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

import torch

from graph_engine import current_context

from ..devices import is_out_of_memory, model_manager

log = logging.getLogger(__name__)

TILE = 512
OVERLAP = 32
MIN_TILE = 128

Upscale = Callable[[torch.Tensor], torch.Tensor]


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Where the tiles along one axis of `size` pixels begin."""
    if size <= tile:
        return [0]
    return list(range(0, size - overlap, tile - overlap))


def tile_count(height: int, width: int, tile: int, overlap: int) -> int:
    return len(tile_starts(height, tile, overlap)) * len(tile_starts(width, tile, overlap))


def blend_weights(height: int, width: int, feather: int) -> torch.Tensor:
    """[1, 1, height, width] weights: a ramp (1..feather)/feather into each edge, 1 inside."""
    weights = torch.ones((1, 1, height, width))
    for dim, size in ((2, height), (3, width)):
        if feather >= size:
            continue
        for step in range(feather):
            value = (step + 1) / feather
            weights.narrow(dim, step, 1).mul_(value)
            weights.narrow(dim, size - 1 - step, 1).mul_(value)
    return weights


@torch.inference_mode()
def tiled_upscale(images: torch.Tensor, upscale: Upscale, scale: int, *, tile: int = TILE, overlap: int = OVERLAP,
                  on_tile: Callable[[], None] | None = None) -> torch.Tensor:
    """`images` [batch, channels, h, w] upscaled by `scale` through `upscale`, tile by tile, on the CPU in float32;
    `on_tile` is called after each tile."""
    batch, _, height, width = images.shape
    output = torch.empty((batch, images.shape[1], height * scale, width * scale))
    rows, columns = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    for index in range(batch):
        image = images[index: index + 1]
        if len(rows) == 1 and len(columns) == 1:
            output[index: index + 1] = upscale(image).float().cpu()
            if on_tile:
                on_tile()
            continue
        total, weight = torch.zeros_like(output[:1]), torch.zeros((1, 1, height * scale, width * scale))
        for top, left in itertools.product(rows, columns):
            part = image[..., top: top + tile, left: left + tile]
            upscaled = upscale(part.contiguous()).float().cpu()
            mask = blend_weights(upscaled.shape[2], upscaled.shape[3], overlap * scale)
            region = (..., slice(top * scale, top * scale + upscaled.shape[2]),
                      slice(left * scale, left * scale + upscaled.shape[3]))
            total[region] += upscaled * mask
            weight[region] += mask
            if on_tile:
                on_tile()
        output[index: index + 1] = total / weight
    return output


def upscale_images(model, images: torch.Tensor, *, tile: int = TILE, overlap: int = OVERLAP) -> torch.Tensor:
    """IMAGE [batch, h, w, channels] upscaled by `model` (an UpscaleModel) with progress per tile, clamped to 0..1;
    the tile halves on out-of-memory until MIN_TILE."""
    manager = model_manager()
    manager.use(model.module)
    # On the compute device even when the weights stream in from the offload device (--lowvram); contiguous, as
    # channel-last strides would make every convolution run in the channels_last format, with other kernels.
    samples = images.movedim(-1, 1).to(device=manager.compute_device, dtype=torch.float32).contiguous()
    context = current_context()
    while True:
        steps = images.shape[0] * tile_count(images.shape[1], images.shape[2], tile, overlap)
        done = 0

        def report() -> None:
            nonlocal done
            done += 1
            if context is not None:
                context.progress(done, steps)

        try:
            upscaled = tiled_upscale(samples, model.module, model.scale, tile=tile, overlap=overlap, on_tile=report)
            break
        except Exception as error:  # noqa: BLE001 - only out-of-memory is retried with smaller tiles
            if not is_out_of_memory(error) or tile // 2 < MIN_TILE:
                raise
            log.warning("upscaling with %d px tiles ran out of memory; trying %d px tiles", tile, tile // 2)
            tile //= 2
    return upscaled.clamp(0.0, 1.0).movedim(1, -1)
