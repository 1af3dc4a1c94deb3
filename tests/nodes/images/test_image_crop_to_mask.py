"""ImageCropToMask: the subject's box worked out by hand, composited with numpy and resized with Pillow's Lanczos
(through 8 bits, as ComfyUI resizes)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from graph_engine import InvalidNodeInput
from nodes.images import NODE_CLASS_MAPPINGS
from tests.nodes.images.image_helpers import make_images, run_and_capture, source

Crop = NODE_CLASS_MAPPINGS["ImageCropToMask"]


def block_mask(rows: slice, cols: slice, size: int = 8):
    mask = torch.zeros((1, size, size))
    mask[0, rows, cols] = 1.0
    return mask


def expected(image, mask, box, background, width, height):
    """Composite over `background` inside box (x1, y1, x2, y2), outside the image being background, then Lanczos."""
    x1, y1, x2, y2 = box
    picture, matte = image[0].numpy(), mask[0].numpy()
    out = np.empty((y2 - y1, x2 - x1, 3), np.float32)
    for r in range(y1, y2):
        for c in range(x1, x2):
            inside = 0 <= r < picture.shape[0] and 0 <= c < picture.shape[1]
            alpha = matte[r, c] if inside else 0.0
            colour = picture[r, c] if inside else np.zeros(3)
            out[r - y1, c - x1] = colour * alpha + np.array(background) * (1 - alpha)
    pixels = np.clip(255.0 * out, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.LANCZOS)) / 255.0


def test_the_subject_is_framed_square_and_resized(engine):
    image = make_images(3, 1, 8, 8).clamp(0, 1)
    mask = block_mask(slice(2, 5), slice(3, 6))  # rows 2-4, columns 3-5
    framed = Crop().crop(image, mask, 64, 64, 1.0, 0, "#000000")[0]
    # box 3x3, half side ceil(1.5) = 2 around the centre (4, 3): columns 2-5, rows 1-4
    assert tuple(framed.shape) == (1, 64, 64, 3)
    assert np.allclose(framed[0].numpy(), expected(image, mask, (2, 1, 6, 5), (0, 0, 0), 64, 64), atol=1e-6)


def test_an_inverted_mask_is_turned_round(engine):
    image = make_images(3, 1, 8, 8).clamp(0, 1)
    mask = block_mask(slice(2, 5), slice(3, 6))
    straight = Crop().crop(image, mask, 64, 64, 1.0, 0, "#000000")[0]
    inverted = Crop().crop(image, 1.0 - mask, 64, 64, 1.0, 0, "#000000")[0]
    assert torch.equal(straight, inverted)


def test_a_box_reaching_outside_is_background_and_follows_the_aspect_ratio(engine):
    prompt = {"src": source(seed=4, height=8, width=8),
              "mask": {"class_type": "TestCornerMask", "inputs": {}},
              "crop": {"class_type": "ImageCropToMask", "inputs": {
                  "images": ["src", 0], "masks": ["mask", 0], "width": 128, "height": 64, "pad_factor": 2.0,
                  "grow_mask": 0, "background": "#ff0000"}}}
    engine.registry.register("TestCornerMask", CornerMask, source="test")
    framed = run_and_capture(engine, prompt, "crop")
    image = make_images(4, 1, 8, 8).clamp(0, 1)
    # subject rows 0-1, columns 0-1; aspect 2: 8 wide, 4 high, halves 4 and 2 around (0.5, 0.5)
    box = (int(0.5 - 4), int(0.5 - 2), int(0.5 - 4) + 8, int(0.5 - 2) + 4)
    assert box == (-3, -1, 5, 3)
    assert tuple(framed.shape) == (1, 64, 128, 3)
    assert np.allclose(framed[0].numpy(), expected(image, CornerMask().make()[0], box, (1, 0, 0), 128, 64),
                       atol=1e-6)


class CornerMask:
    CATEGORY = "testing"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def make(self):
        return (block_mask(slice(0, 2), slice(0, 2)),)


def test_growing_a_pixel_by_one_frames_it_as_a_three_pixel_block():
    image = make_images(5, 2, 8, 8).clamp(0, 1)
    grown = Crop().crop(image, block_mask(slice(3, 4), slice(4, 5)), 64, 64, 1.5, 1, "#204060")[0]
    block = Crop().crop(image, block_mask(slice(2, 5), slice(3, 6)), 64, 64, 1.5, 0, "#204060")[0]
    assert tuple(grown.shape) == (2, 64, 64, 3)  # one mask serves both images
    assert torch.equal(grown, block)


def test_bad_masks_and_colours_are_refused():
    image = make_images(1, 2, 8, 8)
    with pytest.raises(InvalidNodeInput, match="3 masks for 2 images"):
        Crop().crop(image, torch.ones((3, 8, 8)), 64, 64, 1.0, 0, "#000000")
    with pytest.raises(InvalidNodeInput, match="'#zzzzzz' is not a colour"):
        Crop().crop(image, torch.ones((1, 8, 8)), 64, 64, 1.0, 0, "#zzzzzz")


def lanczos(array, width, height):
    """Pillow's Lanczos through 8 bits, as ComfyUI resizes images and masks."""
    pixels = np.clip(255.0 * array, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.LANCZOS)) / 255.0


def test_an_image_larger_than_the_output_is_scaled_down_first():
    image = make_images(6, 1, 128, 128).clamp(0, 1)
    mask = torch.zeros((1, 128, 128))
    mask[0, 32:96, 48:80] = 1.0  # 64 high, 32 wide
    framed = Crop().crop(image, mask, 64, 64, 1.0, 0, "#000000")[0]
    picture, matte = lanczos(image[0].numpy(), 64, 64), lanczos(mask[0].numpy(), 64, 64)
    rows, cols = np.nonzero((matte * 255.0).astype(np.uint8) > 204)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (16, 47, 24, 39)  # the block at half size
    # 16 wide, 32 high, square output: a 32x32 crop, halves of 16 around (31.5, 31.5) -> 15..47
    crop = picture[15:47, 15:47] * matte[15:47, 15:47, None]
    assert np.allclose(framed[0].numpy(), lanczos(crop, 64, 64), atol=1e-6)
