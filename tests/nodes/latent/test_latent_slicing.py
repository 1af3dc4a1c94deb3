"""comfy_extras.nodes_latent's LatentConcat, LatentCut and LatentCutToBatch run through the real engine."""
from __future__ import annotations

import pytest
import torch

from tests.nodes.latent.latent_helpers import LATENT

ROWS = torch.tensor([[0., 1., 2., 3., 4.], [10., 11., 12., 13., 14.]]).reshape(1, 1, 2, 5)


@pytest.mark.parametrize("dim,expected", [
    ("x", [[0., 1., 7.], [2., 3., 8.]]),
    ("-x", [[7., 0., 1.], [8., 2., 3.]]),
])
def test_latent_concat_along_x(runner, dim, expected):
    first = {"samples": torch.tensor([[0., 1.], [2., 3.]]).reshape(1, 1, 2, 2), "batch_index": [3]}
    second = {"samples": torch.tensor([[7.], [8.]]).reshape(1, 1, 2, 1)}
    out = runner.run("LatentConcat", {"dim": dim}, {"samples1": (first, LATENT), "samples2": (second, LATENT)})
    assert out["samples"][0, 0].tolist() == expected and out["batch_index"] == [3]


def test_latent_concat_along_y_repeats_the_second_to_the_batch(runner):
    first = {"samples": torch.zeros(2, 1, 1, 2)}
    second = {"samples": torch.ones(1, 1, 1, 2)}
    out = runner.run("LatentConcat", {"dim": "-y"}, {"samples1": (first, LATENT), "samples2": (second, LATENT)})
    assert out["samples"].shape == (2, 1, 2, 2)
    assert out["samples"][1, 0].tolist() == [[1., 1.], [0., 0.]]


def test_latent_concat_t_on_an_image_latent_joins_channels(runner):
    out = runner.run("LatentConcat", {"dim": "t"}, {"samples1": ({"samples": torch.zeros(1, 4, 2, 2)}, LATENT),
                                                    "samples2": ({"samples": torch.ones(1, 4, 2, 2)}, LATENT)})
    assert out["samples"].shape == (1, 8, 2, 2) and out["samples"][0, 4:].eq(1).all()


def test_latent_concat_refuses_sides_that_do_not_line_up(runner):
    result = runner.run_result("LatentConcat", {"dim": "x"},
                               {"samples1": ({"samples": torch.zeros(1, 4, 2, 2)}, LATENT),
                                "samples2": ({"samples": torch.zeros(1, 4, 3, 2)}, LATENT)})
    assert not result.ok and "cannot be joined along x" in result.error.exception_message


@pytest.mark.parametrize("dim,index,amount,expected", [
    ("x", 1, 2, [[1., 2.], [11., 12.]]),
    ("x", -2, 5, [[3., 4.], [13., 14.]]),     # from the second last on: only 2 are there
    ("x", 10, 3, [[4.], [14.]]),              # past the end: the last one
    ("x", -10, 1, [[0.], [10.]]),             # before the start: the first one
    ("y", 1, 1, [[10., 11., 12., 13., 14.]]),
])
def test_latent_cut(runner, dim, index, amount, expected):
    out = runner.run("LatentCut", {"dim": dim, "index": index, "amount": amount},
                     {"samples": ({"samples": ROWS}, LATENT)})
    assert out["samples"][0, 0].tolist() == expected


def test_latent_cut_to_batch_slices_x_into_a_batch_and_drops_the_rest(runner):
    source = torch.cat([ROWS, ROWS + 100])  # two latents of 2 x 5 cells
    out = runner.run("LatentCutToBatch", {"dim": "x", "slice_size": 2}, {"samples": ({"samples": source}, LATENT)})
    assert out["samples"].shape == (4, 1, 2, 2)  # 5 columns make 2 slices of 2; column 4 is dropped
    assert out["samples"][:, 0].tolist() == [
        [[0., 1.], [10., 11.]], [[2., 3.], [12., 13.]],
        [[100., 101.], [110., 111.]], [[102., 103.], [112., 113.]]]


def test_latent_cut_to_batch_y_longer_slice_and_t_on_an_image_latent(runner):
    out = runner.run("LatentCutToBatch", {"dim": "y", "slice_size": 1}, {"samples": ({"samples": ROWS}, LATENT)})
    assert out["samples"].shape == (2, 1, 1, 5) and out["samples"][1, 0, 0, 0] == 10
    out = runner.run("LatentCutToBatch", {"dim": "y", "slice_size": 7}, {"samples": ({"samples": ROWS}, LATENT)})
    assert torch.equal(out["samples"], ROWS)  # a slice longer than the side is the whole side
    out = runner.run("LatentCutToBatch", {"dim": "t", "slice_size": 1}, {"samples": ({"samples": ROWS}, LATENT)})
    assert torch.equal(out["samples"], ROWS)  # t of an image latent is its channels: left as it is


def test_latent_cut_to_batch_t_on_a_video_latent(runner):
    video = torch.arange(6.).reshape(1, 1, 6, 1, 1)  # 6 frames
    out = runner.run("LatentCutToBatch", {"dim": "t", "slice_size": 3}, {"samples": ({"samples": video}, LATENT)})
    assert out["samples"].shape == (2, 1, 3, 1, 1) and out["samples"].flatten().tolist() == [0., 1., 2., 3., 4., 5.]
