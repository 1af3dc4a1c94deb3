"""Canny through the real engine, against a plain numpy/scipy Canny written here from kornia's definition, and
against edges worked out by hand for simple shapes."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from tests.nodes.latent.latent_helpers import IMAGE

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
STEPS = {0: (0, 1), 1: (1, 1), 2: (1, 0), 3: (1, -1), 4: (0, -1), 5: (-1, -1), 6: (-1, 0), 7: (-1, 1)}


def reference_canny(rgb: np.ndarray, low: float, high: float) -> np.ndarray:
    """kornia's Canny on one [H, W, 3] image, pixel by pixel in float64."""
    grey = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    taps = np.exp(-np.arange(-2, 3) ** 2 / 2.0)
    taps /= taps.sum()
    blurred = ndi.correlate1d(ndi.correlate1d(grey, taps, axis=1, mode="mirror"), taps, axis=0, mode="mirror")
    gx = ndi.correlate(blurred, SOBEL_X, mode="nearest")
    gy = ndi.correlate(blurred, SOBEL_X.T, mode="nearest")
    magnitude = np.sqrt(gx * gx + gy * gy + 1e-6)
    height, width = grey.shape
    thin = np.zeros_like(magnitude)
    for y in range(height):
        for x in range(width):
            sector = int(np.round(np.degrees(np.arctan2(gy[y, x], gx[y, x])) / 45)) % 8
            around = []
            for step in (STEPS[sector], STEPS[(sector + 4) % 8]):
                ny, nx = y + step[0], x + step[1]
                around.append(magnitude[ny, nx] if 0 <= ny < height and 0 <= nx < width else 0.0)
            if magnitude[y, x] > max(around):
                thin[y, x] = magnitude[y, x]
    regions, _ = ndi.label(thin > low, structure=np.ones((3, 3)))
    strong_regions = np.unique(regions[thin > high])
    return np.isin(regions, strong_regions[strong_regions > 0]).astype(np.float32)


def canny(runner, img, low=0.1, high=0.3):
    return runner.run("Canny", {"low_threshold": low, "high_threshold": high}, {"image": (img, IMAGE)})


def framed_square() -> torch.Tensor:
    """A white 6x6 square on black with a mid-grey frame between them, so each edge has one steepest pixel."""
    img = torch.zeros((1, 16, 16, 3))
    img[0, 4:12, 4:12] = 0.5
    img[0, 5:11, 5:11] = 1.0
    return img


def test_square_outline(runner):
    out = canny(runner, framed_square())
    assert out.shape == (1, 16, 16, 3) and torch.equal(out[..., 0], out[..., 2])
    edges = out[0, ..., 0]
    ring = torch.zeros((16, 16))
    ring[4:12, 4:12] = 1.0
    ring[5:11, 5:11] = 0.0
    # the straight sides follow the grey frame; the corners are cut by the blur and may sit one pixel inside
    assert torch.equal(edges[4, 6:10], torch.ones(4)) and torch.equal(edges[11, 6:10], torch.ones(4))
    assert torch.equal(edges[6:10, 4], torch.ones(4)) and torch.equal(edges[6:10, 11], torch.ones(4))
    assert edges[ring == 0][:].sum() <= 4 and edges[:3].sum() == 0 and edges[13:].sum() == 0
    torch.testing.assert_close(edges, edges.T)  # the square is symmetric about its diagonal
    np.testing.assert_array_equal(edges.numpy(), reference_canny(framed_square()[0].numpy().astype(np.float64),
                                                                 0.1, 0.3))


def test_vertical_ramp_edge_is_one_column(runner):
    img = torch.zeros((1, 10, 12, 3))
    img[0, :, 6] = 0.5
    img[0, :, 7:] = 1.0
    edges = canny(runner, img)[0, ..., 0]
    expected = torch.zeros((10, 12))
    expected[:, 6] = 1.0
    torch.testing.assert_close(edges, expected)


def test_flat_image_has_no_edges(runner):
    assert canny(runner, torch.full((1, 8, 8, 3), 0.7)).sum() == 0


def test_hysteresis_keeps_weak_edges_joined_to_strong_ones(runner):
    # one ramp edge (column 6) fading downwards: its magnitude falls from about 0.50 at the top to 0.28 at the bottom,
    # so with high 0.46 only the top rows are strong; a low threshold under the whole line keeps it all, one at 0.40
    # keeps the strong top and the weak rows joined to it down to where the magnitude drops under 0.40
    img = torch.zeros((1, 12, 12, 3))
    fade = torch.linspace(0.2, 0.1, 12)
    img[0, :, 6] = fade[:, None] / 2
    img[0, :, 7:] = fade[:, None, None]
    whole = torch.zeros((12, 12))
    whole[:, 6] = 1.0
    torch.testing.assert_close(canny(runner, img, 0.25, 0.46)[0, ..., 0], whole)
    part = canny(runner, img, 0.40, 0.46)[0, ..., 0]
    kept = part[:, 6]
    assert part.sum() == kept.sum() and kept[:4].sum() == 4 and kept[9:].sum() == 0
    assert torch.equal(kept, kept.sort(descending=True).values)  # one unbroken run from the top
    np.testing.assert_array_equal(part.numpy(), reference_canny(img[0].numpy().astype(np.float64), 0.40, 0.46))
    assert canny(runner, img, 0.25, 0.55).sum() == 0  # nothing strong: the weak line goes too


@pytest.mark.parametrize("low,high", [(0.1, 0.2), (0.4, 0.8)])
def test_random_shapes_match_the_reference(runner, low, high):
    generator = torch.Generator().manual_seed(3)
    coarse = torch.rand((2, 3, 4, 4), generator=generator)  # smooth shapes: no two pixels tie for an edge
    img = torch.nn.functional.interpolate(coarse, size=(20, 24), mode="bicubic").clamp(0, 1).permute(0, 2, 3, 1)
    out = canny(runner, img, low, high)
    for frame, edges in zip(img, out):
        np.testing.assert_array_equal(edges[..., 0].numpy(), reference_canny(frame.numpy().astype(np.float64), low, high))


def test_thresholds_in_the_wrong_order_are_a_clear_error(runner):
    result = runner.run_result("Canny", {"low_threshold": 0.8, "high_threshold": 0.4},
                               {"image": (framed_square(), IMAGE)})
    assert not result.ok and result.user_facing_error and "low_threshold 0.8" in result.error.exception_message
