"""InvertMask, SolidMask, ImageToMask, MaskToImage, ThresholdMask, ImageColorToMask and CropMask on tiny
hand-made masks and images; the expected values are written out by hand."""
from __future__ import annotations

import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.masks.mask_nodes import (CropMask, ImageColorToMask, ImageToMask, InvertMask, MaskToImage, SolidMask,
                                    ThresholdMask)
from tests.nodes.latent.latent_helpers import IMAGE, MASK

MASK_2x3 = torch.tensor([[[0.0, 0.25, 1.0],
                          [0.5, 0.75, 0.1]]])


def test_invert_mask_through_the_engine(runner):
    out = runner.run("InvertMask", {}, {"mask": (MASK_2x3, MASK)})
    torch.testing.assert_close(out, torch.tensor([[[1.0, 0.75, 0.0], [0.5, 0.25, 0.9]]]))


def test_solid_mask_through_the_engine(runner):
    out = runner.run("SolidMask", {"value": 0.3, "width": 3, "height": 2})
    assert out.shape == (1, 2, 3) and out.dtype == torch.float32
    assert torch.all(out == torch.tensor(0.3))


def test_solid_mask_rejects_a_zero_side(runner, engine):
    from tests.nodes.latent.latent_helpers import node_errors

    prompt, _ = runner.prompt("SolidMask", {"value": 1.0, "width": 0, "height": 2})
    assert node_errors(engine, prompt) == [("value_smaller_than_min", "width")]


def test_image_to_mask_takes_the_named_channel(runner):
    image = torch.arange(2 * 2 * 2 * 4, dtype=torch.float32).reshape(2, 2, 2, 4) / 100
    for index, channel in enumerate(["red", "green", "blue", "alpha"]):
        out = runner.run("ImageToMask", {"channel": channel}, {"image": (image, IMAGE)})
        assert out.shape == (2, 2, 2)
        # pixel (b, y, x) channel c is (((b * 2 + y) * 2 + x) * 4 + c) / 100
        assert out[1, 0, 1].item() == pytest.approx(((1 * 2 + 0) * 2 + 1) * 4 / 100 + index / 100)


def test_image_to_mask_alpha_of_an_rgb_image_is_a_clear_error():
    with pytest.raises(InvalidNodeInput, match="only 3 channels"):
        ImageToMask().image_to_mask(torch.zeros(1, 2, 2, 3), "alpha")


def test_mask_to_image_repeats_the_value_in_three_channels(runner):
    out = runner.run("MaskToImage", {}, {"mask": (MASK_2x3, MASK)})
    assert out.shape == (1, 2, 3, 3)
    for channel in range(3):
        torch.testing.assert_close(out[..., channel], MASK_2x3)


def test_mask_to_image_accepts_a_single_2d_mask():
    (out,) = MaskToImage().mask_to_image(MASK_2x3[0])
    assert out.shape == (1, 2, 3, 3)
    assert out[0, 1, 1].tolist() == [0.75, 0.75, 0.75]


def test_threshold_mask_is_strictly_above(runner):
    out = runner.run("ThresholdMask", {"value": 0.5}, {"mask": (MASK_2x3, MASK)})
    assert out.tolist() == [[[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]]  # 0.5 itself is not above 0.5


def test_image_color_to_mask_matches_exact_8bit_colours(runner):
    image = torch.zeros(1, 2, 2, 3)
    image[0, 0, 0] = torch.tensor([1.0, 0.0, 0.0])                   # 0xFF0000
    image[0, 0, 1] = torch.tensor([18 / 255, 52 / 255, 86 / 255])    # 0x123456
    image[0, 1, 0] = torch.tensor([18.4 / 255, 52 / 255, 86 / 255])  # rounds to 0x123456 too
    image[0, 1, 1] = torch.tensor([19 / 255, 52 / 255, 86 / 255])    # 0x133456
    out = runner.run("ImageColorToMask", {"color": 0x123456}, {"image": (image, IMAGE)})
    assert out.tolist() == [[[0.0, 1.0], [1.0, 0.0]]] and out.dtype == torch.float32
    (red,) = ImageColorToMask().image_to_mask(image, 0xFF0000)
    assert red.tolist() == [[[1.0, 0.0], [0.0, 0.0]]]
    (black,) = ImageColorToMask().image_to_mask(torch.full((1, 1, 2, 3), -0.2), 0)  # clamped to 0 first
    assert black.tolist() == [[[1.0, 1.0]]]


def test_image_color_to_mask_ignores_alpha():
    image = torch.tensor([[[[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]]]])
    (out,) = ImageColorToMask().image_to_mask(image, 0xFFFFFF)
    assert out.tolist() == [[[1.0, 1.0]]]


def test_crop_mask_cuts_the_region_and_stops_at_the_edges(runner):
    mask = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)
    out = runner.run("CropMask", {"x": 1, "y": 1, "width": 2, "height": 5}, {"mask": (mask, MASK)})
    assert out.tolist() == [[[5.0, 6.0], [9.0, 10.0]], [[17.0, 18.0], [21.0, 22.0]]]
    (single,) = CropMask().crop(mask[0], 3, 0, 512, 1)
    assert single.tolist() == [[[3.0]]]


def test_crop_mask_outside_the_mask_is_a_clear_error():
    with pytest.raises(InvalidNodeInput, match="outside the 4x3 mask"):
        CropMask().crop(torch.zeros(1, 3, 4), 4, 0, 2, 2)


def test_invert_mask_keeps_a_2d_mask_2d():
    (out,) = InvertMask().invert(torch.tensor([[0.25, 1.0]]))
    assert out.tolist() == [[0.75, 0.0]]


def test_threshold_of_a_solid_mask():
    (solid,) = SolidMask().solid(0.5, 2, 1)
    (out,) = ThresholdMask().image_to_mask(solid, 0.49)
    assert out.tolist() == [[[1.0, 1.0]]]
