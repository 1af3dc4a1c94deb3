"""SplitImageToTileList and ImageMergeTileList: the tile grid, the sine blend, and a list run through the engine."""
from __future__ import annotations

import math

import torch

from nodes.images import NODE_CLASS_MAPPINGS
from nodes.images.image_tiles import tile_grid
from tests.nodes.images.image_helpers import captured, make_images, run_and_capture, source

Split, Merge = NODE_CLASS_MAPPINGS["SplitImageToTileList"], NODE_CLASS_MAPPINGS["ImageMergeTileList"]


def test_grid_steps_by_the_tile_less_the_overlap_and_ends_at_the_edge():
    # stride 64 - 16 = 48: starts 0, 48, 96, then the last is moved back to end at 200
    assert [(x0, x1) for x0, _, x1, _ in tile_grid(200, 64, 64, 64, 16)] == [(0, 64), (48, 112), (96, 160),
                                                                           (136, 200)]
    # an overlap of most of the tile still steps a quarter tile; the fourth would end at 112, so ends at 100
    assert [x0 for x0, _, _, _ in tile_grid(100, 64, 64, 64, 60)] == [0, 16, 32, 36]
    assert tile_grid(50, 40, 64, 64, 8) == [(0, 0, 50, 40)]  # one tile, smaller than asked


def test_split_then_merge_gives_the_image_back():
    image = make_images(3, 2, 90, 130).clamp(0, 1)
    for overlap in (0, 20):
        (tiles,) = Split().split(image, 64, 64, overlap)
        assert all(tuple(tile.shape) == (2, 64, 64, 3) for tile in tiles)
        (merged,) = Merge().merge(tiles, [130], [90], [overlap])
        assert torch.allclose(merged, image, atol=1e-5)


def test_overlaps_blend_by_sine_weights():
    # tiles 64 wide at 0..64 and 32..96: one all 0, one all 1
    (merged,) = Merge().merge([torch.zeros((1, 64, 64, 3)), torch.ones((1, 64, 64, 3))], [96], [64], [32])

    def weight(position):  # the sine bump along a 64-pixel tile
        return max(math.sin(math.pi * position / 63), 1e-5)

    expected = [0.0] * 32 + [weight(c - 32) / (weight(c) + weight(c - 32)) for c in range(32, 64)] + [1.0] * 32
    assert torch.allclose(merged[0, 10, :, 0], torch.tensor(expected), atol=1e-5)


def test_tiles_run_one_by_one_through_the_nodes_between(engine):
    prompt = {"src": source(seed=4, height=64, width=64),
              "pad": {"class_type": "ImagePadForOutpaint", "inputs": {
                  "image": ["src", 0], "left": 64, "top": 0, "right": 0, "bottom": 0, "feathering": 0}},
              "split": {"class_type": "SplitImageToTileList", "inputs": {
                  "image": ["pad", 0], "tile_width": 64, "tile_height": 64, "overlap": 32}},
              "inv": {"class_type": "ImageInvert", "inputs": {"image": ["split", 0]}},
              "merge": {"class_type": "ImageMergeTileList", "inputs": {
                  "image_list": ["inv", 0], "final_width": 128, "final_height": 64, "overlap": 32}}}
    tiles = captured(engine, prompt, "inv")  # the capture runs once for each of the 3 tiles
    assert [tuple(tile.shape) for tile in tiles] == [(1, 64, 64, 3)] * 3
    merged = run_and_capture(engine, prompt, "merge")
    padded = torch.cat([torch.full((1, 64, 64, 3), 0.5), make_images(4, 1, 64, 64)], dim=2)
    assert tuple(merged.shape) == (1, 64, 128, 3)
    assert torch.allclose(merged, 1.0 - padded, atol=1e-5)
