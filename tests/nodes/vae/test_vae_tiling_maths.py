"""The tile layout and feathered blending of nodes.runtime.models.vae_tiling, on hand-made stand-ins for a VAE whose
right answers are known exactly: a nearest-neighbour upscale (a decoder that is the identity up to scale), a 2x2
average (an encoder likewise), and tiles that each output their own constant (to read off the blending weights)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nodes.runtime.models.vae_tiling import (blended_tile_passes, tile_count, tile_starts, tiled_map,
                                             tiles_when_out_of_memory)


def upscale2(tile: torch.Tensor) -> torch.Tensor:
    return tile.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


def downscale2(tile: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(tile, 2)


def constant_per_tile(scale: int = 2, first: int = 0):
    """A stand-in that outputs the tile's number (first, first + 1, ...) at `scale`, so the blend shows each tile's
    weight; also returns the list of the tiles' shapes it was called with."""
    calls = []

    def function(tile: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(tile.shape))
        return torch.full((1, 1, tile.shape[-2] * scale, tile.shape[-1] * scale), float(first + len(calls) - 1))

    return function, calls


def test_tiles_start_every_tile_minus_overlap_and_the_last_is_cut_short():
    assert tile_starts(10, 6, 2) == [0, 4]
    assert tile_starts(11, 6, 2) == [0, 4, 8]  # the last covers 8..10, three samples
    assert tile_starts(6, 6, 2) == [0]  # fits: one tile
    assert tile_count(11, 10, (6, 4), 2) == 3 * 4


def test_two_tiles_blend_over_a_linear_ramp_of_the_scaled_overlap():
    # Length 10 in tiles of 6 overlapping by 2, upscaled by 2: tile 0 covers outputs 0..11, tile 1 outputs 8..19, each
    # weighted 1/4, 2/4, 3/4 over its 4 (2 x 2) border outputs. Outputs 8..11: tile 1's weight over the sum,
    # 0.25/1.25, 0.5/1.25, 0.75/1.25, 1/1.25.
    function, calls = constant_per_tile()
    got = tiled_map(torch.zeros(1, 3, 1, 10), function, (1, 6), overlap=2, scale=2)
    expected = torch.tensor([0.0] * 8 + [0.2, 0.4, 0.6, 0.8] + [1.0] * 8)
    assert len(calls) == 2 and got.shape == (1, 1, 2, 20)
    assert torch.allclose(got[0, 0], expected.expand(2, 20), atol=1e-6)


def test_ramps_that_meet_in_a_short_tile_multiply():
    # Overlap 1 at scale 1 is a ramp of one sample: weights all ones, so the shared sample 3 is the plain mean.
    function, _ = constant_per_tile(scale=1)
    got = tiled_map(torch.zeros(1, 1, 1, 7), function, (1, 4), overlap=1, scale=1)
    assert torch.allclose(got[0, 0, 0], torch.tensor([0, 0, 0, 0.5, 1, 1, 1]), atol=1e-6)
    # Tiles of 4 overlapping by 3 start at 0, 1 and 2; each one's weights are the rising (i+1)/3 times the falling
    # (4-i)/3, each capped at 1: [1/3, 2/3, 2/3, 1/3].
    function, _ = constant_per_tile(scale=1)
    got = tiled_map(torch.zeros(1, 1, 1, 6), function, (1, 4), overlap=3, scale=1)
    w = [1 / 3, 2 / 3, 2 / 3, 1 / 3]
    sums = [(0, w[0]), (w[0] * 1, w[1] + w[0]), (w[1] * 1 + w[0] * 2, w[2] + w[1] + w[0]),
            (w[2] * 1 + w[1] * 2, w[3] + w[2] + w[1]), (w[3] * 1 + w[2] * 2, w[3] + w[2]), (2 * w[3], w[3])]
    assert torch.allclose(got[0, 0, 0], torch.tensor([s / n for s, n in sums]), atol=1e-6)


@pytest.mark.parametrize("height,width", [(13, 9), (24, 24), (5, 30)])
def test_an_identity_up_to_scale_comes_back_whole_from_every_pass(height, width):
    # Any tile placed one sample off, or cut wrong at the edge, shows: the input is noise.
    samples = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(height))
    for shape in [(8, 2), (2, 8), (4, 4), (6, 5)]:
        assert torch.allclose(tiled_map(samples[:1], upscale2, shape, overlap=1, scale=2), upscale2(samples[:1]),
                              atol=1e-6), shape
    assert torch.allclose(blended_tile_passes(samples, upscale2, tile=4, overlap=1, scale=2), upscale2(samples),
                          atol=1e-6)


def test_an_encoder_stand_in_downscales_tile_by_tile_to_the_whole_result():
    # Pixel tiles start at even positions (tile 8, overlap 2: every 6, 2, 14 samples), so each 2x2 cell is in one tile.
    pixels = torch.rand(1, 3, 20, 28, generator=torch.Generator().manual_seed(3))
    got = blended_tile_passes(pixels, downscale2, tile=8, overlap=2, scale=0.5)
    assert got.shape == (1, 3, 10, 14)
    assert torch.allclose(got, downscale2(pixels), atol=1e-6)


def test_the_three_passes_are_averaged():
    # The blended run numbers its tiles across the passes (tall, wide, square); each pass run alone, numbered from
    # where the passes before it ended, must average to the same.
    samples = torch.zeros(1, 1, 4, 16)
    shapes = [(8, 2), (2, 8), (4, 4)]
    counts = [tile_count(4, 16, shape, 1) for shape in shapes]
    assert counts == [1 * 15, 3 * 3, 1 * 5]  # rows x columns
    passes = [tiled_map(samples, constant_per_tile(first=sum(counts[:i]))[0], shape, overlap=1, scale=2)
              for i, shape in enumerate(shapes)]
    function, calls = constant_per_tile()
    blended = blended_tile_passes(samples, function, tile=4, overlap=1, scale=2)
    assert len(calls) == sum(counts)
    assert torch.allclose(blended, sum(passes) / 3, atol=1e-5)


def test_out_of_memory_falls_back_to_tiles_and_other_errors_pass_through():
    def out_of_memory():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    assert tiles_when_out_of_memory(out_of_memory, lambda: "tiled", torch.device("cpu"), "decoding") == "tiled"
    assert tiles_when_out_of_memory(lambda: "whole", lambda: "tiled", torch.device("cpu"), "decoding") == "whole"

    def broken():
        raise ValueError("not memory")

    with pytest.raises(ValueError, match="not memory"):
        tiles_when_out_of_memory(broken, lambda: "tiled", torch.device("cpu"), "decoding")
