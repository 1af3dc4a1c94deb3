"""ComfyUI's comfy_extras.nodes_hypertile: HyperTile, which cuts the self-attention queries of the largest feature
maps into tiles (each tile one batch entry) so that large images attend in pieces, and joins the outputs back."""
from __future__ import annotations

import math
from typing import Any

from .unet_patch_node import UNetPatchNode

PYTHON_MODULE = "comfy_extras.nodes_hypertile"
SMALLEST_TILE = 32  # pixels


def tile_count(size: int, min_tile: int, max_options: int) -> int:
    """Into how many tiles `size` cells are cut: size / d for one of the `max_options` smallest divisors d of size
    that are at least `min_tile` (or size itself); the choice is drawn from torch's generator when there are
    three or more (ComfyUI's draw never picks the last option)."""
    import torch

    min_tile = min(min_tile, size)
    counts = [size // d for d in range(min_tile, size + 1) if size % d == 0][:max_options]
    if len(counts) > 1:
        return counts[int(torch.randint(low=0, high=len(counts) - 1, size=(1,)).item())]
    return counts[0]


def to_tiles(x: Any, rows: int, cols: int, tile_rows: int, tile_cols: int) -> Any:
    """[b, rows*cols, c] tokens, a grid of (rows/tile_rows) x (cols/tile_cols) tiles, as [b*tiles, tile tokens, c]."""
    batch, _, channels = x.shape
    grid = x.reshape(batch, tile_rows, rows // tile_rows, tile_cols, cols // tile_cols, channels)
    return grid.permute(0, 1, 3, 2, 4, 5).reshape(batch * tile_rows * tile_cols, -1, channels)


def from_tiles(x: Any, rows: int, cols: int, tile_rows: int, tile_cols: int) -> Any:
    """The inverse of to_tiles."""
    channels = x.shape[-1]
    grid = x.reshape(-1, tile_rows, tile_cols, rows // tile_rows, cols // tile_cols, channels)
    return grid.permute(0, 1, 3, 2, 4, 5).reshape(grid.shape[0], rows * cols, channels)


def hypertile_patches(tile_size: int, swap_size: int, max_depth: int, scale_depth: bool) -> tuple:
    """(attn1 patch, attn1 output patch): the queries of feature maps at the latent's size or up to `max_depth`
    halvings below it are cut into tiles of at least tile_size/8 latent cells (times 2^depth with scale_depth);
    the output patch joins the tiles of the same attention back."""
    latent_tile = max(SMALLEST_TILE, tile_size) // 8
    pending: list[tuple[int, int, int, int]] = []  # the tiling of the attention in progress

    def tile_queries(q: Any, k: Any, v: Any, extra_options: dict) -> tuple:
        pending.clear()  # what an interrupted call left
        shape = extra_options["original_shape"]
        sizes = [(shape[-2] / 2 ** depth) * (shape[-1] / 2 ** depth) for depth in range(max_depth + 1)]
        tokens = q.shape[-2]
        if tokens not in sizes:
            return q, k, v
        aspect = shape[-1] / shape[-2]
        # ComfyUI's grid: `rows` comes from the width's side of the aspect ratio (the same on square latents)
        rows, cols = round(math.sqrt(tokens * aspect)), round(math.sqrt(tokens / aspect))
        factor = 2 ** sizes.index(tokens) if scale_depth else 1
        tile_rows = tile_count(rows, latent_tile * factor, swap_size)
        tile_cols = tile_count(cols, latent_tile * factor, swap_size)
        if tile_rows * tile_cols > 1:
            q = to_tiles(q, rows, cols, tile_rows, tile_cols)
            pending.append((rows, cols, tile_rows, tile_cols))
        return q, k, v

    def join_tiles(out: Any, extra_options: dict) -> Any:
        return from_tiles(out, *pending.pop()) if pending else out

    return tile_queries, join_tiles


class HyperTile(UNetPatchNode):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL", {}),
            "tile_size": ("INT", {"default": 256, "min": 1, "max": 2048, "advanced": True}),
            "swap_size": ("INT", {"default": 2, "min": 1, "max": 128, "advanced": True}),
            "max_depth": ("INT", {"default": 0, "min": 0, "max": 10, "advanced": True}),
            "scale_depth": ("BOOLEAN", {"default": False, "advanced": True}),
        }}

    def patch(self, model: Any, tile_size: int, swap_size: int, max_depth: int, scale_depth: bool):
        """A clone whose large self-attentions run in tiles of about tile_size pixels; swap_size > 2 lets the tile
        grid change at random between calls."""
        tile_queries, join_tiles = hypertile_patches(int(tile_size), int(swap_size), int(max_depth),
                                                     bool(scale_depth))
        patched = model.clone()
        patched.set_model_attn1_patch(tile_queries)
        patched.set_model_attn1_output_patch(join_tiles)
        return (patched,)


NODE_CLASS_MAPPINGS = {"HyperTile": HyperTile}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
