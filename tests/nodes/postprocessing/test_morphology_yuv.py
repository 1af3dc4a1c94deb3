"""Morphology, ImageRGBToYUV and ImageYUVToRGB through the real engine, against scipy.ndimage and hand values.

scipy's grey morphology with a flat square and the border replicated ("nearest") is the same as ignoring pixels
outside the image, which is what ComfyUI's kornia calls do.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from tests.nodes.latent.latent_helpers import CAUGHT, IMAGE


def image(batch=2, height=7, width=8, channels=3, seed=0) -> torch.Tensor:
    return torch.rand((batch, height, width, channels), generator=torch.Generator().manual_seed(seed))


def scipy_morphology(img: torch.Tensor, operation: str, size: int) -> np.ndarray:
    """Each channel of [B, H, W, C] through scipy's grey morphology."""
    footprint = {"size": (size, size), "mode": "nearest"}
    ops = {
        "erode": lambda a: ndi.grey_erosion(a, **footprint),
        "dilate": lambda a: ndi.grey_dilation(a, **footprint),
        "open": lambda a: ndi.grey_opening(a, **footprint),
        "close": lambda a: ndi.grey_closing(a, **footprint),
        "gradient": lambda a: ndi.grey_dilation(a, **footprint) - ndi.grey_erosion(a, **footprint),
        "top_hat": lambda a: a - ndi.grey_opening(a, **footprint),
        "bottom_hat": lambda a: ndi.grey_closing(a, **footprint) - a,
    }
    array = img.numpy()
    out = np.empty_like(array)
    for b in range(array.shape[0]):
        for c in range(array.shape[3]):
            out[b, :, :, c] = ops[operation](array[b, :, :, c])
    return out


@pytest.mark.parametrize("operation", ["erode", "dilate", "open", "close", "gradient", "top_hat", "bottom_hat"])
@pytest.mark.parametrize("size", [3, 5])
def test_morphology_matches_scipy(runner, operation, size):
    img = image()
    out = runner.run("Morphology", {"operation": operation, "kernel_size": size}, {"image": (img, IMAGE)})
    assert out.shape == img.shape
    np.testing.assert_allclose(out.numpy(), scipy_morphology(img, operation, size), atol=1e-6)


def test_even_kernels_place_the_window_as_kornia_does(runner):
    # a 4x4 window: dilation reaches 1 pixel up/left and 2 down/right of its output pixel (so a bright dot spreads
    # 2 up/left and 1 down/right); erosion reaches 2 up/left and 1 down/right
    dot = torch.zeros((1, 6, 6, 1))
    dot[0, 2, 2, 0] = 1.0
    dilated = runner.run("Morphology", {"operation": "dilate", "kernel_size": 4}, {"image": (dot, IMAGE)})
    expected = torch.zeros((6, 6))
    expected[0:4, 0:4] = 1.0
    torch.testing.assert_close(dilated[0, ..., 0], expected)
    eroded = runner.run("Morphology", {"operation": "erode", "kernel_size": 4}, {"image": (1 - dot, IMAGE)})
    expected = torch.ones((6, 6))
    expected[1:5, 1:5] = 0.0
    torch.testing.assert_close(eroded[0, ..., 0], expected)


def test_a_window_larger_than_the_image_takes_the_whole_image(runner):
    img = image(batch=1, height=4, width=5, seed=1)
    out = runner.run("Morphology", {"operation": "dilate", "kernel_size": 99}, {"image": (img, IMAGE)})
    torch.testing.assert_close(out, img.amax(dim=(1, 2), keepdim=True).expand_as(img))


def run_output(runner, class_type, feeds, slot):
    prompt, key = runner.prompt(class_type, {}, feeds)
    prompt["out"]["inputs"]["value"] = ["n", slot]
    assert runner.engine.run(prompt).ok
    return CAUGHT.pop(key)


# red, green, blue, white, black, a grey-blue; Y, U = (B - Y) 0.564 + 0.5, V = (R - Y) 0.713 + 0.5 worked by hand
PIXELS = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1), (0, 0, 0), (0.2, 0.4, 0.6)]
YUV = [(0.299, 0.331364, 0.999813), (0.587, 0.168932, 0.081469), (0.114, 0.999704, 0.418718),
       (1.0, 0.5, 0.5), (0.0, 0.5, 0.5), (0.363, 0.633668, 0.383781)]


@pytest.mark.parametrize("slot", [0, 1, 2])
def test_rgb_to_yuv_planes_by_hand(runner, slot):
    img = torch.tensor(PIXELS, dtype=torch.float32).reshape(1, 2, 3, 3)
    plane = run_output(runner, "ImageRGBToYUV", {"image": (img, IMAGE)}, slot)
    assert plane.shape == img.shape
    expected = torch.tensor([values[slot] for values in YUV]).reshape(1, 2, 3, 1).expand(1, 2, 3, 3)
    torch.testing.assert_close(plane, expected, atol=1e-6, rtol=0)


def test_yuv_to_rgb_by_hand(runner):
    # R = Y + 1.403 (V - 0.5), G = Y - 0.714 (V - 0.5) - 0.344 (U - 0.5), B = Y + 1.773 (U - 0.5), clamped
    planes = torch.tensor([(0.5, 0.5, 0.5), (0.3, 0.6, 0.4), (0.9, 0.9, 0.9), (0.1, 0.2, 0.3)]).reshape(1, 2, 2, 3)
    y, u, v = (planes[..., i:i + 1].expand(1, 2, 2, 3) for i in range(3))
    out = runner.run("ImageYUVToRGB", {}, {"Y": (y, IMAGE), "U": (u, IMAGE), "V": (v, IMAGE)})
    expected = torch.tensor([
        (0.5, 0.5, 0.5),
        (0.3 - 0.1403, 0.3 + 0.0714 - 0.0344, 0.3 + 0.1773),
        (1.0, 0.9 - 0.2856 - 0.1376, 1.0),
        (0.0, 0.1 + 0.1428 + 0.1032, 0.0),
    ]).reshape(1, 2, 2, 3)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_yuv_round_trip_is_close(runner):
    img = image(seed=2)
    planes = [run_output(runner, "ImageRGBToYUV", {"image": (img, IMAGE)}, slot) for slot in range(3)]
    out = runner.run("ImageYUVToRGB", {}, {"Y": (planes[0], IMAGE), "U": (planes[1], IMAGE), "V": (planes[2], IMAGE)})
    torch.testing.assert_close(out, img, atol=2e-3, rtol=0)  # kornia's rounded coefficients do not quite invert


def test_yuv_planes_of_different_sizes_are_refused(runner):
    result = runner.run_result("ImageYUVToRGB", {}, {"Y": (image(), IMAGE), "U": (image(width=4), IMAGE),
                                                       "V": (image(), IMAGE)})
    assert not result.ok and result.user_facing_error and "same batch and size" in result.error.exception_message
