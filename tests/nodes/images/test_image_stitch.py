"""ImageStitch: direction, size matching, padding, channels, batch lengths and the gap."""
from __future__ import annotations

import torch

from nodes.images import NODE_CLASS_MAPPINGS
from tests.nodes.images.image_helpers import make_images, run_and_capture, source

Stitch = NODE_CLASS_MAPPINGS["ImageStitch"]


def flat(value: float, height: int, width: int, channels: int = 3, batch: int = 1):
    return torch.full((batch, height, width, channels), value)


def test_without_image2_image1_passes_unchanged(engine):
    prompt = {"src": source(seed=1), "st": {"class_type": "ImageStitch", "inputs": {
        "image1": ["src", 0], "direction": "right", "match_image_size": True, "spacing_width": 0,
        "spacing_color": "white"}}}
    assert torch.equal(run_and_capture(engine, prompt, "st"), make_images(1, 1, 8, 8))


def test_right_with_a_black_gap(engine):
    prompt = {"a": source(seed=1, height=3, width=2), "b": source(seed=2, height=3, width=4),
              "st": {"class_type": "ImageStitch", "inputs": {
                  "image1": ["a", 0], "image2": ["b", 0], "direction": "right", "match_image_size": False,
                  "spacing_width": 2, "spacing_color": "black"}}}
    stitched = run_and_capture(engine, prompt, "st")
    expected = torch.cat([make_images(1, 1, 3, 2), torch.zeros((1, 3, 2, 3)), make_images(2, 1, 3, 4)], dim=2)
    assert torch.equal(stitched, expected)


def test_up_puts_image2_on_top_and_pads_the_narrower_centred():
    stitched, = Stitch().stitch(flat(0.25, 1, 2), "up", False, 0, "white", image2=flat(0.75, 2, 5))
    # image1 is 2 wide in a 5-wide column: one column of white before it, two after
    assert stitched[0, :, :, 0].tolist() == [[0.75] * 5, [0.75] * 5, [1.0, 0.25, 0.25, 1.0, 1.0]]


def test_matching_size_resizes_image2_to_image1s_width_keeping_its_aspect():
    stitched, = Stitch().stitch(flat(0.0, 2, 3), "down", True, 0, "white", image2=flat(0.5, 4, 6))
    # 6x4 at width 3 is 2 high; lanczos goes through 8 bits: 0.5 -> 127/255
    assert tuple(stitched.shape) == (1, 4, 3, 3)
    assert torch.allclose(stitched[:, 2:], torch.full((1, 2, 3, 3), 127 / 255), atol=1e-6)
    assert torch.equal(stitched[:, :2], flat(0.0, 2, 3))


def test_the_shorter_batch_repeats_its_last_image_and_rgb_gets_an_opaque_alpha():
    first = torch.stack([torch.full((1, 1, 3), 0.125), torch.full((1, 1, 3), 0.25)])
    second = flat(0.75, 1, 1, channels=4, batch=3)
    stitched, = Stitch().stitch(first, "left", False, 2, "red", image2=second)
    assert tuple(stitched.shape) == (3, 1, 4, 4)
    assert stitched[2, 0].tolist() == [[0.75] * 4, [1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0],
                                       [0.25, 0.25, 0.25, 1.0]]
    assert stitched[0, 0, 3].tolist() == [0.125, 0.125, 0.125, 1.0]
