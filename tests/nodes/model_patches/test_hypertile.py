"""HyperTile: its tiling against numpy's, one transformer block with the patch against the attention worked out
here (each tile of queries attends to the keys that ComfyUI's attention lays out in the queries' batch), and
sampling on the tiny SD1 UNet."""
from __future__ import annotations

import numpy as np
import torch

from nodes.model_patches.hypertile import HyperTile, from_tiles, tile_count, to_tiles
from nodes.runtime.models.transformer_forward import transformer_block
from tests.nodes.model_patches.sampling import SAME, count_patch_calls, sampled


def test_tiles_are_the_grids_rectangles_and_join_back():
    tokens = torch.arange(2 * 4 * 6 * 3, dtype=torch.float32).reshape(2, 24, 3)
    grid = tokens.numpy().reshape(2, 4, 6, 3)
    expected = np.stack([grid[b, r * 2:r * 2 + 2, c * 3:c * 3 + 3].reshape(6, 3)
                         for b in range(2) for r in range(2) for c in range(2)])
    tiles = to_tiles(tokens, 4, 6, 2, 2)
    np.testing.assert_array_equal(tiles.numpy(), expected)
    assert torch.equal(from_tiles(tiles, 4, 6, 2, 2), tokens)


def test_tile_count_picks_among_the_smallest_divisors_from_the_minimum():
    assert tile_count(8, 4, 1) == 2 and tile_count(8, 16, 1) == 1 and tile_count(8, 3, 2) == 2
    torch.manual_seed(0)
    drawn = {tile_count(12, 3, 3) for _ in range(40)}  # divisors 3, 4, 6: 4 or 3 tiles, never the last option
    assert drawn == {4, 3}


def test_a_tiled_self_attention_block(model):
    block = model.unet.down_blocks[0].attentions[0].transformer_blocks[0]  # 8 heads of 4 on an 8x8 latent
    patched, = HyperTile().patch(model, 32, 1, 0, False)  # tiles of 4x4 cells: 2x2 tiles
    options = {**patched.model_options["transformer_options"], "original_shape": [1, 4, 8, 8],
               "block": ("input", 1), "block_index": 0}
    generator = torch.Generator().manual_seed(4)
    x, context = torch.randn(1, 64, 32, generator=generator), torch.randn(1, 7, 64, generator=generator)
    with torch.no_grad():
        ours = transformer_block(block, x, context, dict(options))
        attn = block.attn1
        n = block.norm1(x)
        q = n.numpy().reshape(2, 4, 2, 4, 32).transpose(0, 2, 1, 3, 4).reshape(4, 16, 32)  # 4x4 tiles of the grid
        k, v = attn.to_k(n).numpy().reshape(4, 16, 32), attn.to_v(n).numpy().reshape(4, 16, 32)  # row chunks
        q = attn.to_q(torch.from_numpy(q)).numpy()
        heads = lambda t: t.reshape(4, 16, 8, 4).transpose(0, 2, 1, 3)  # noqa: E731
        scores = heads(q) @ heads(k).transpose(0, 1, 3, 2) / 2.0
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        out = (weights / weights.sum(-1, keepdims=True)) @ heads(v)
        out = out.transpose(0, 2, 1, 3).reshape(2, 2, 4, 4, 32).transpose(0, 2, 1, 3, 4).reshape(1, 64, 32)
        x = attn.to_out[0](torch.from_numpy(out).float()) + x
        x = block.attn2(block.norm2(x), context) + x
        expected = block.ff(block.norm3(x)) + x
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)


def test_sampling_with_hypertile(model, unpatched_sample):
    whole, = HyperTile().patch(model, 64, 1, 0, False)  # tiles of 8 cells: the whole 8x8 latent
    torch.testing.assert_close(sampled(whole), unpatched_sample, **SAME)
    tiled, = HyperTile().patch(model, 32, 1, 1, True)
    calls = count_patch_calls(tiled)
    assert (sampled(tiled) - unpatched_sample).abs().max() > 0.05
    assert calls["attn1_patch"] == calls["attn1_output_patch"] == 2 * 4  # 2 steps, 4 transformers
