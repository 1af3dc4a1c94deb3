"""Tiling (ComfyUI's comfy_extras.nodes_images): SplitImageToTileList cuts an image into overlapping tiles, given on
as a list so each tile runs through the nodes after it; ImageMergeTileList blends such a list back together."""
from __future__ import annotations

from graph_engine import InvalidNodeInput

from ..latent.resize import MAX_RESOLUTION

PYTHON_MODULE = "comfy_extras.nodes_images"
MIN_WEIGHT = 1e-5  # the sine weight at a tile's very edge, so an edge covered by one tile only still counts


def axis_starts(size: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, end) of the tiles along one side: a stride of the tile less the overlap (at least a quarter tile,
    rounded, and a pixel); the last tile is moved back to end at the edge."""
    stride = max(1, round(max(tile * 0.25, tile - overlap)))
    spans, position = [], 0
    while True:
        end = min(position + tile, size)
        spans.append((max(0, end - tile), end))
        if end >= size:
            return spans
        position += stride


def tile_grid(width: int, height: int, tile_width: int, tile_height: int, overlap: int):
    """(x_start, y_start, x_end, y_end) of each tile, row by row."""
    return [(x0, y0, x1, y1) for y0, y1 in axis_starts(height, tile_height, overlap)
            for x0, x1 in axis_starts(width, tile_width, overlap)]


class SplitImageToTileList:
    CATEGORY = "image/batch"
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "split"
    DESCRIPTION = "Splits an image into a batched list of tiles with a specified overlap."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "tile_width": ("INT", {"default": 1024, "min": 64, "max": MAX_RESOLUTION}),
            "tile_height": ("INT", {"default": 1024, "min": 64, "max": MAX_RESOLUTION}),
            "overlap": ("INT", {"default": 128, "min": 0, "max": 4096}),
        }}

    def split(self, image, tile_width: int, tile_height: int, overlap: int):
        height, width = image.shape[1:3]
        return ([image[:, y0:y1, x0:x1, :] for x0, y0, x1, y1 in tile_grid(width, height, tile_width, tile_height,
                                                                           overlap)],)


def tile_weights(height: int, width: int, feathered: bool, like):
    """How much each pixel of a tile counts where tiles overlap: a sine bump that is highest in the middle, or
    flat when the tiles do not overlap. Shape [1, height, width, 1]."""
    import math

    import torch

    if not feathered:
        return torch.ones((1, height, width, 1), dtype=like.dtype, device=like.device)
    rows = torch.sin(math.pi * torch.linspace(0, 1, height, dtype=like.dtype, device=like.device))
    cols = torch.sin(math.pi * torch.linspace(0, 1, width, dtype=like.dtype, device=like.device))
    rows, cols = rows.clamp(min=MIN_WEIGHT), cols.clamp(min=MIN_WEIGHT)
    return (rows[:, None] * cols[None, :])[None, :, :, None]


class ImageMergeTileList:
    CATEGORY = "image/batch"
    RETURN_TYPES = ("IMAGE",)
    INPUT_IS_LIST = True
    FUNCTION = "merge"
    DESCRIPTION = ("Blends a list of tiles, as Split Image into List of Tiles cut them, back into one image of "
                   "final_width x final_height.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image_list": ("IMAGE",),
            "final_width": ("INT", {"default": 1024, "min": 64, "max": 32768}),
            "final_height": ("INT", {"default": 1024, "min": 64, "max": 32768}),
            "overlap": ("INT", {"default": 128, "min": 0, "max": 4096}),
        }}

    def merge(self, image_list, final_width, final_height, overlap):
        import torch

        if not image_list:
            raise InvalidNodeInput("image_list is empty: connect the tiles of Split Image into List of Tiles")
        width, height, overlap = final_width[0], final_height[0], overlap[0]
        first = image_list[0]
        batch, tile_height, tile_width, channels = first.shape
        weights = tile_weights(tile_height, tile_width, overlap > 0, first)
        canvas = torch.zeros((batch, height, width, channels), dtype=first.dtype, device=first.device)
        total = torch.zeros((batch, height, width, 1), dtype=first.dtype, device=first.device)
        # tiles beyond the grid are left out; the grid's last tiles may be smaller than the first
        for tile, (x0, y0, x1, y1) in zip(image_list, tile_grid(width, height, tile_width, tile_height, overlap)):
            rows, cols = min(y1 - y0, tile.shape[1]), min(x1 - x0, tile.shape[2])
            weight = weights[:, :rows, :cols, :]
            canvas[:, y0:y0 + rows, x0:x0 + cols, :] += tile[:, :rows, :cols, :] * weight
            total[:, y0:y0 + rows, x0:x0 + cols, :] += weight
        total[total == 0] = 1.0
        return (canvas / total,)


NODE_CLASS_MAPPINGS = {"SplitImageToTileList": SplitImageToTileList, "ImageMergeTileList": ImageMergeTileList}
NODE_DISPLAY_NAME_MAPPINGS = {"SplitImageToTileList": "Split Image into List of Tiles",
                              "ImageMergeTileList": "Merge List of Tiles to Image"}
