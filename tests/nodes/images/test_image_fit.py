"""ImageScaleToMaxDimension and ResizeAndPadImage, against sizes and pixels worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.images import NODE_CLASS_MAPPINGS
from tests.nodes.images.image_helpers import make_images, run_and_capture, source


def node(name):
    return NODE_CLASS_MAPPINGS[name]()


def test_max_dimension_area_downscale_averages_blocks(engine):
    prompt = {"src": source(seed=6, batch=2, height=4, width=6),
              "fit": {"class_type": "ImageScaleToMaxDimension",
                      "inputs": {"image": ["src", 0], "upscale_method": "area", "largest_size": 3}}}
    scaled = run_and_capture(engine, prompt, "fit")
    blocks = make_images(6, 2, 4, 6).numpy().reshape(2, 2, 2, 3, 2, 3).mean(axis=(2, 4))  # 2x2 blocks
    assert tuple(scaled.shape) == (2, 2, 3, 3)
    assert np.allclose(scaled.numpy(), blocks, atol=1e-6)


@pytest.mark.parametrize("height, width, largest, expected", [
    (4, 6, 3, (2, 3)), (6, 4, 9, (9, 6)), (5, 5, 2, (2, 2)), (3, 7, 10, (4, 10)),  # 3/7*10 = 4.29 -> 4
])
def test_max_dimension_keeps_the_aspect_ratio(height, width, largest, expected):
    (scaled,) = node("ImageScaleToMaxDimension").upscale(torch.zeros((1, height, width, 3)), "bilinear", largest)
    assert tuple(scaled.shape[1:3]) == expected


def test_max_dimension_of_zero_is_refused():
    with pytest.raises(InvalidNodeInput, match="largest_size"):
        node("ImageScaleToMaxDimension").upscale(torch.zeros((1, 2, 2, 3)), "area", 0)


@pytest.mark.parametrize("color, fill", [("white", 1.0), ("black", 0.0)])
def test_resize_and_pad_centres_the_fitted_image(engine, color, fill):
    prompt = {"src": source(seed=8, height=2, width=4),
              "fit": {"class_type": "ResizeAndPadImage",
                      "inputs": {"image": ["src", 0], "target_width": 8, "target_height": 8, "padding_color": color,
                                 "interpolation": "nearest-exact"}}}
    padded = run_and_capture(engine, prompt, "fit")
    # 2x4 fits 8x8 at scale 2: 4 rows by 8 columns, two rows of padding above and below
    doubled = make_images(8, 1, 2, 4).numpy().repeat(2, axis=1).repeat(2, axis=2)
    assert tuple(padded.shape) == (1, 8, 8, 3)
    assert np.array_equal(padded[:, 2:6].numpy(), doubled)
    assert torch.all(padded[:, :2] == fill) and torch.all(padded[:, 6:] == fill)


def test_resize_and_pad_truncates_the_fitted_size():
    # 3 wide, 2 high into 4x4: scale 4/3, so 4 wide and int(2 * 4/3) = 2 high, one row of padding above
    (padded,) = node("ResizeAndPadImage").resize_and_pad(torch.full((1, 2, 3, 3), 0.25), 4, 4, "black", "bilinear")
    assert padded[0, :, 0, 0].tolist() == [0.0, 0.25, 0.25, 0.0]
