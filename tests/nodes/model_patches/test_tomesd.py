"""TomePatchModel: token merging against a numpy reading of it (each 2x2 cell keeps one destination; the sources
most like a destination are averaged into it and take its value back), and sampling on the tiny SD1 UNet."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nodes.model_patches.tomesd import TomePatchModel, bipartite_merge, merge_functions
from tests.nodes.model_patches.sampling import SAME, count_patch_calls, sampled


def expected_round_trip(x: np.ndarray, chosen: np.ndarray, count: int) -> np.ndarray:
    """Tokens after merging `count` sources and unmerging, for one 4x4 grid with chosen[i, j] the destination's
    place (row-major) inside cell (i, j)."""
    destinations = [(2 * i + k // 2) * 4 + 2 * j + k % 2 for i in range(2) for j in range(2)
                    for k in [int(chosen[i, j])]]
    sources = [t for t in range(16) if t not in destinations]
    unit = x / np.linalg.norm(x, axis=-1, keepdims=True)
    similarity = unit[sources] @ unit[destinations].T
    best, target = similarity.max(axis=1), similarity.argmax(axis=1)
    merged = np.argsort(-best)[:count]
    out = x.copy()
    for d, token in enumerate(destinations):
        group = [token] + [sources[s] for s in merged if target[s] == d]
        out[group] = x[group].mean(axis=0)
    return out


@pytest.mark.parametrize("count", [3, 12])
def test_merging_then_unmerging_averages_each_destination_with_its_closest_sources(count):
    x = torch.randn(1, 16, 5, generator=torch.Generator().manual_seed(count))
    torch.manual_seed(7)
    chosen = torch.randint(4, size=(2, 2, 1)).numpy()[..., 0]  # the draw bipartite_merge makes next
    torch.manual_seed(7)
    merge, unmerge = bipartite_merge(x, 4, 4, count)
    merged = merge(x)
    assert merged.shape == (1, 16 - count, 5)
    np.testing.assert_allclose(unmerge(merged)[0].numpy(), expected_round_trip(x[0].numpy(), chosen, count),
                               rtol=1e-5, atol=1e-6)


def test_identical_tokens_merge_without_loss():
    cells = torch.randn(2, 2, 6, generator=torch.Generator().manual_seed(1))
    x = cells.repeat_interleave(2, 0).repeat_interleave(2, 1).reshape(1, 16, 6)  # each 2x2 cell one vector
    merge, unmerge = bipartite_merge(x, 4, 4, 12)
    assert merge(x).shape[1] == 4
    torch.testing.assert_close(unmerge(merge(x)), x)


def test_only_full_size_attention_merges():
    q = torch.randn(1, 16, 4)
    merge, unmerge = merge_functions(q, 0.5, [1, 4, 8, 8])  # 16 of 64 tokens: a smaller level
    assert merge(q) is q and unmerge(q) is q
    merge, _ = merge_functions(torch.randn(1, 64, 4), 0.5, [1, 4, 8, 8])
    assert merge(torch.randn(1, 64, 4)).shape == (1, 32, 4)


def test_sampling_with_tome(model, unpatched_sample):
    nothing_merged, = TomePatchModel().patch(model, 0.0)
    torch.testing.assert_close(sampled(nothing_merged), unpatched_sample, **SAME)
    merging, = TomePatchModel().patch(model, 0.5)
    calls = count_patch_calls(merging)
    torch.manual_seed(0)
    assert (sampled(merging) - unpatched_sample).abs().max() > 0.05
    assert calls["attn1_patch"] == calls["attn1_output_patch"] == 2 * 4
