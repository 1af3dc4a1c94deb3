"""GrowMask and FeatherMask on tiny hand-made masks; large growths against a step-by-step 3x3 filter written here."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nodes.masks.mask_nodes import FeatherMask, GrowMask
from tests.nodes.latent.latent_helpers import MASK

CROSS = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)]
SQUARE = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def steps_of_3x3(mask: np.ndarray, expand: int, tapered: bool) -> np.ndarray:
    """|expand| steps of a 3x3 max (or min) filter whose window stops at the mask's edges."""
    pick = np.max if expand > 0 else np.min
    offsets = CROSS if tapered else SQUARE
    height, width = mask.shape
    for _ in range(abs(expand)):
        out = np.empty_like(mask)
        for y in range(height):
            for x in range(width):
                out[y, x] = pick([mask[y + dy, x + dx] for dy, dx in offsets
                                  if 0 <= y + dy < height and 0 <= x + dx < width])
        mask = out
    return mask


def dot(height=5, width=5, at=(2, 2), value=1.0) -> torch.Tensor:
    mask = torch.zeros(1, height, width)
    mask[0, at[0], at[1]] = value
    return mask


def test_grow_by_one_is_a_cross_with_tapered_corners_and_a_square_without(runner):
    cross = runner.run("GrowMask", {"expand": 1, "tapered_corners": True}, {"mask": (dot(), MASK)})
    assert cross[0].tolist() == [[0, 0, 0, 0, 0],
                                 [0, 0, 1, 0, 0],
                                 [0, 1, 1, 1, 0],
                                 [0, 0, 1, 0, 0],
                                 [0, 0, 0, 0, 0]]
    square = runner.run("GrowMask", {"expand": 1, "tapered_corners": False}, {"mask": (dot(), MASK)})
    assert square[0].tolist() == [[0, 0, 0, 0, 0],
                                  [0, 1, 1, 1, 0],
                                  [0, 1, 1, 1, 0],
                                  [0, 1, 1, 1, 0],
                                  [0, 0, 0, 0, 0]]


def test_grow_by_two_reaches_a_diamond_or_the_whole_square():
    (diamond,) = GrowMask().expand_mask(dot(), 2, True)
    assert diamond[0].tolist() == [[0, 0, 1, 0, 0],
                                   [0, 1, 1, 1, 0],
                                   [1, 1, 1, 1, 1],
                                   [0, 1, 1, 1, 0],
                                   [0, 0, 1, 0, 0]]
    (square,) = GrowMask().expand_mask(dot(), 2, False)
    assert square[0].tolist() == [[1.0] * 5] * 5


def test_grow_takes_the_greatest_grey_value_and_stops_at_the_edges():
    mask = torch.tensor([[[0.2, 0.0, 0.0],
                          [0.0, 0.0, 0.0],
                          [0.0, 0.0, 0.7]]])
    (out,) = GrowMask().expand_mask(mask, 1, False)
    torch.testing.assert_close(out, torch.tensor([[[0.2, 0.2, 0.0],
                                                  [0.2, 0.7, 0.7],
                                                  [0.0, 0.7, 0.7]]]))


def test_shrink_keeps_only_what_the_whole_filter_covers():
    block = torch.zeros(1, 5, 5)
    block[0, 1:4, 1:4] = 1.0
    for tapered in (True, False):
        (out,) = GrowMask().expand_mask(block, -1, tapered)
        assert out[0].tolist() == dot()[0].tolist()
    # a mask full to its edges does not shrink from the edges
    (full,) = GrowMask().expand_mask(torch.ones(1, 3, 4), -1, True)
    assert torch.all(full == 1.0)


@pytest.mark.parametrize("expand", [3, 7, 40, -2, -6, -40])
@pytest.mark.parametrize("tapered", [True, False])
def test_many_steps_match_a_step_by_step_filter(expand, tapered):
    masks = torch.rand((2, 6, 9), generator=torch.Generator().manual_seed(abs(expand)))
    (out,) = GrowMask().expand_mask(masks, expand, tapered)
    assert out.shape == (2, 6, 9) and out.dtype == torch.float32
    for index in range(2):
        expected = steps_of_3x3(masks[index].numpy(), expand, tapered)
        np.testing.assert_array_equal(out[index].numpy(), expected)


def test_grow_of_zero_and_of_a_2d_mask():
    mask = torch.rand((3, 4), generator=torch.Generator().manual_seed(1))
    (same,) = GrowMask().expand_mask(mask, 0, True)
    assert same.shape == (1, 3, 4) and torch.equal(same[0], mask)
    (square_same,) = GrowMask().expand_mask(mask, 0, False)
    assert torch.equal(square_same[0], mask)


def test_feather_multiplies_linear_ramps_from_each_edge(runner):
    out = runner.run("FeatherMask", {"left": 2, "top": 1, "right": 3, "bottom": 4}, {"mask": (torch.ones(2, 4, 5), MASK)})
    columns = torch.tensor([0.5, 1.0, 1.0, 2 / 3, 1 / 3])  # left: 1/2, 2/2; right from the last column: 1/3, 2/3, 3/3
    rows = torch.tensor([1.0, 0.75, 0.5, 0.25])  # top: 1/1; bottom from the last row: 1/4, 2/4, 3/4, 4/4
    expected = rows[:, None] * columns[None, :]
    assert out.shape == (2, 4, 5)
    torch.testing.assert_close(out, expected.expand(2, 4, 5))


def test_feather_wider_than_the_mask_is_cut_to_it_and_overlapping_ramps_multiply():
    mask = torch.full((1, 1, 4), 0.8)
    (out,) = FeatherMask().feather(mask, 9, 0, 4, 0)
    torch.testing.assert_close(out[0, 0], 0.8 * torch.tensor([0.25 * 1.0, 0.5 * 0.75, 0.75 * 0.5, 1.0 * 0.25]))
    (untouched,) = FeatherMask().feather(mask, 0, 0, 0, 0)
    assert torch.equal(untouched, mask)
    assert torch.all(mask == 0.8)  # the input is not changed
