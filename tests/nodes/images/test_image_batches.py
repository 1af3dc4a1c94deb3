"""GetImageSize, RepeatImageBatch, ImageFromBatch and ImageAddNoise."""
from __future__ import annotations

import pytest
import torch

from nodes.images import NODE_CLASS_MAPPINGS
from tests.nodes.images.image_helpers import make_images, run_and_capture, source


def node(name):
    return NODE_CLASS_MAPPINGS[name]()


def test_get_image_size_gives_width_height_and_batch(engine):
    prompt = {"src": source(batch=3, height=5, width=7),
              "size": {"class_type": "GetImageSize", "inputs": {"image": ["src", 0]}}}
    assert [run_and_capture(engine, prompt, "size", index) for index in range(3)] == [7, 5, 3]


def test_repeat_puts_whole_copies_of_the_batch_one_after_another(engine):
    prompt = {"src": source(seed=1, batch=2, height=2, width=3),
              "rep": {"class_type": "RepeatImageBatch", "inputs": {"image": ["src", 0], "amount": 3}}}
    repeated = run_and_capture(engine, prompt, "rep")
    original = make_images(1, 2, 2, 3)
    assert tuple(repeated.shape) == (6, 2, 3, 3)
    for copy in range(3):
        assert torch.equal(repeated[2 * copy:2 * copy + 2], original)


@pytest.mark.parametrize("batch_index, length, kept", [
    (0, 1, [0]), (1, 2, [1, 2]), (3, 10, [3, 4]), (-2, 1, [3]), (9, 1, [4]), (-9, 2, [0, 1]),
])
def test_from_batch_picks_clamped_slices(batch_index, length, kept):
    images = torch.arange(5, dtype=torch.float32)[:, None, None, None].expand(5, 1, 1, 3)
    (picked,) = node("ImageFromBatch").frombatch(images, batch_index, length)
    assert picked[:, 0, 0, 0].tolist() == [float(k) for k in kept]


def test_add_noise_is_seeded_gaussian_times_strength_clipped():
    image = make_images(3, 2, 4, 5).clamp(0, 1)
    (noisy,) = node("ImageAddNoise").add_noise(image, seed=42, strength=0.3)
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(42))
    assert torch.allclose(noisy, (image + 0.3 * noise).clamp(0, 1), atol=1e-6)
    (again,) = node("ImageAddNoise").add_noise(image, seed=42, strength=0.3)
    (other,) = node("ImageAddNoise").add_noise(image, seed=43, strength=0.3)
    assert torch.equal(noisy, again) and not torch.equal(noisy, other)
    (unchanged,) = node("ImageAddNoise").add_noise(image, seed=1, strength=0.0)
    assert torch.equal(unchanged, image)


def test_add_noise_takes_the_largest_seed():
    (noisy,) = node("ImageAddNoise").add_noise(torch.full((1, 2, 2, 3), 0.5), seed=2**64 - 1, strength=0.1)
    assert tuple(noisy.shape) == (1, 2, 2, 3) and 0.0 <= float(noisy.min()) <= float(noisy.max()) <= 1.0
