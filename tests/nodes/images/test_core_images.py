"""EmptyImage, ImageBatch, ImageInvert and ImagePadForOutpaint, through the engine and called directly."""
from __future__ import annotations

import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.images import NODE_CLASS_MAPPINGS
from tests.nodes.images.image_helpers import make_images, run_and_capture, source


def node(name):
    return NODE_CLASS_MAPPINGS[name]()


def test_empty_image_is_one_colour_from_its_hex_value(engine):
    prompt = {"empty": {"class_type": "EmptyImage",
                        "inputs": {"width": 3, "height": 2, "batch_size": 2, "color": 0xFF8000}}}
    image = run_and_capture(engine, prompt, "empty")
    assert image.dtype == torch.float32 and tuple(image.shape) == (2, 2, 3, 3)
    expected = torch.tensor([1.0, 128 / 255, 0.0]).expand(2, 2, 3, 3)
    assert torch.allclose(image, expected, atol=1e-7)


def test_invert_is_one_minus_each_value(engine):
    image = run_and_capture(engine, {"src": source(seed=3, height=2, width=3),
                                     "inv": {"class_type": "ImageInvert", "inputs": {"image": ["src", 0]}}}, "inv")
    assert torch.allclose(image, 1.0 - make_images(3, 1, 2, 3), atol=1e-7)


def test_batch_joins_two_batches_of_the_same_size():
    first, second = make_images(1, 2, 4, 4), make_images(2, 1, 4, 4)
    (joined,) = node("ImageBatch").batch(first, second)
    assert tuple(joined.shape) == (3, 4, 4, 3)
    assert torch.equal(joined[:2], first) and torch.equal(joined[2:], second)


def test_batch_resizes_the_second_to_the_first_with_a_centre_crop():
    first = torch.zeros((1, 2, 2, 3))
    # 2 high, 4 wide: the centre crop to a square keeps columns 1 and 2, which are then already 2x2
    second = torch.arange(8, dtype=torch.float32).reshape(1, 2, 4, 1).expand(1, 2, 4, 3).contiguous()
    (joined,) = node("ImageBatch").batch(first, second)
    assert tuple(joined.shape) == (2, 2, 2, 3)
    assert joined[1, ..., 0].tolist() == [[1.0, 2.0], [5.0, 6.0]]


def test_batch_gives_an_rgb_image_an_opaque_alpha_to_join_an_rgba_one():
    rgba, rgb = make_images(1, 1, 2, 2, 4), make_images(2, 1, 2, 2, 3)
    (joined,) = node("ImageBatch").batch(rgba, rgb)
    assert tuple(joined.shape) == (2, 2, 2, 4)
    assert torch.equal(joined[1, ..., :3], rgb[0]) and torch.equal(joined[1, ..., 3], torch.ones((2, 2)))


def test_batch_refuses_channel_counts_it_cannot_join():
    with pytest.raises(InvalidNodeInput, match="only RGB and RGBA"):
        node("ImageBatch").batch(make_images(1, 1, 2, 2, 1), make_images(1, 1, 2, 2, 3))


def feathered_mask_by_hand(height, width, left, top, right, bottom, feathering):
    """ComfyUI's rule written as a plain loop over the original pixels."""
    mask = [[1.0] * (width + left + right) for _ in range(height + top + bottom)]
    for i in range(height):
        for j in range(width):
            value = 0.0
            if 0 < feathering and feathering * 2 < height and feathering * 2 < width:
                d = min(i if top else height, height - i if bottom else height,
                        j if left else width, width - j if right else width)
                if d < feathering:
                    value = ((feathering - d) / feathering) ** 2
            mask[top + i][left + j] = value
    return torch.tensor(mask)


@pytest.mark.parametrize("sides, feathering", [
    ((2, 1, 0, 3), 2),  # left, top and bottom padded, feathered
    ((0, 0, 4, 0), 3),  # right only
    ((1, 1, 1, 1), 0),  # no feathering: a hard edge
    ((1, 0, 0, 0), 5),  # feathering wider than half the picture: none
])
def test_pad_for_outpaint_grey_border_and_feathered_mask(engine, sides, feathering):
    left, top, right, bottom = sides
    prompt = {"src": source(seed=5, batch=2, height=7, width=9),
              "pad": {"class_type": "ImagePadForOutpaint",
                      "inputs": {"image": ["src", 0], "left": left, "top": top, "right": right, "bottom": bottom,
                                 "feathering": feathering}}}
    image = run_and_capture(engine, prompt, "pad", 0)
    mask = run_and_capture(engine, prompt, "pad", 1)
    original = make_images(5, 2, 7, 9)
    assert tuple(image.shape) == (2, 7 + top + bottom, 9 + left + right, 3)
    assert torch.equal(image[:, top:top + 7, left:left + 9], original)
    border = torch.ones(image.shape[1:3], dtype=torch.bool)
    border[top:top + 7, left:left + 9] = False
    assert torch.all(image[:, border] == 0.5)
    assert tuple(mask.shape) == (1, *image.shape[1:3])
    assert torch.allclose(mask[0], feathered_mask_by_hand(7, 9, left, top, right, bottom, feathering), atol=1e-6)
