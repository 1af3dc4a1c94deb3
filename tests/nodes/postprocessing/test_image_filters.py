"""ImageBlend, ImageBlur, ImageSharpen and ImageQuantize through the real engine, against numpy and Pillow here.

Blur and sharpen kernels are built in the test from ComfyUI's definition: a 2-D Gaussian over a grid from -1 to 1
across 2r + 1 taps, normalised, applied with the border mirrored (numpy's "reflect" padding).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.nodes.latent.latent_helpers import IMAGE


def image(batch=2, height=6, width=7, channels=3, seed=0) -> torch.Tensor:
    return torch.rand((batch, height, width, channels), generator=torch.Generator().manual_seed(seed))


def comfy_gaussian_2d(radius: int, sigma: float) -> np.ndarray:
    taps = np.linspace(-1.0, 1.0, 2 * radius + 1)
    x, y = np.meshgrid(taps, taps, indexing="ij")
    weights = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    return weights / weights.sum()


def correlate_reflect(img: torch.Tensor, kernel: np.ndarray) -> np.ndarray:
    """Each channel of [B, H, W, C] correlated with `kernel`, the border mirrored, in float64."""
    r = kernel.shape[0] // 2
    array = img.numpy().astype(np.float64)
    padded = np.pad(array, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
    out = np.zeros_like(array)
    height, width = array.shape[1:3]
    for dy in range(kernel.shape[0]):
        for dx in range(kernel.shape[1]):
            out += kernel[dy, dx] * padded[:, dy:dy + height, dx:dx + width, :]
    return out


# --- ImageBlur ---------------------------------------------------------------------------------------------------

def test_blur_radius_1_by_hand(runner):
    # radius 1, sigma 1: taps at -1, 0, 1; weights exp(-(x^2+y^2)/2) = 1 (centre), e^-0.5 (edges), e^-1 (corners)
    e1, e2 = np.exp(-0.5), np.exp(-1.0)
    kernel = np.array([[e2, e1, e2], [e1, 1.0, e1], [e2, e1, e2]])
    kernel /= kernel.sum()
    img = image()
    out = runner.run("ImageBlur", {"blur_radius": 1, "sigma": 1.0}, {"image": (img, IMAGE)})
    assert out.shape == img.shape
    np.testing.assert_allclose(out.numpy(), correlate_reflect(img, kernel), atol=1e-6)


@pytest.mark.parametrize("radius,sigma", [(2, 0.5), (3, 2.0)])
def test_blur_matches_the_2d_kernel(runner, radius, sigma):
    img = image(batch=1, height=9, width=8, channels=4, seed=1)
    out = runner.run("ImageBlur", {"blur_radius": radius, "sigma": sigma}, {"image": (img, IMAGE)})
    np.testing.assert_allclose(out.numpy(), correlate_reflect(img, comfy_gaussian_2d(radius, sigma)), atol=1e-6)


def test_blur_keeps_a_flat_image_flat(runner):
    img = torch.full((1, 5, 5, 3), 0.25)
    out = runner.run("ImageBlur", {"blur_radius": 2, "sigma": 3.0}, {"image": (img, IMAGE)})
    torch.testing.assert_close(out, img)


def test_blur_radius_beyond_the_image_is_a_clear_error(runner):
    result = runner.run_result("ImageBlur", {"blur_radius": 6, "sigma": 1.0}, {"image": (image(), IMAGE)})
    assert not result.ok and result.user_facing_error
    assert "blur_radius 6" in result.error.exception_message and "at most 5" in result.error.exception_message


# --- ImageSharpen ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("radius,sigma,alpha", [(1, 1.0, 1.0), (2, 0.7, 0.3), (1, 1.0, 0.0)])
def test_sharpen_matches_comfyuis_kernel(runner, radius, sigma, alpha):
    kernel = comfy_gaussian_2d(radius, sigma) * -(alpha * 10)
    kernel[radius, radius] += 1.0 - kernel.sum()  # the centre makes the kernel sum to 1
    img = image(seed=2)
    out = runner.run("ImageSharpen", {"sharpen_radius": radius, "sigma": sigma, "alpha": alpha},
                     {"image": (img, IMAGE)})
    np.testing.assert_allclose(out.numpy(), np.clip(correlate_reflect(img, kernel), 0, 1), atol=2e-6)


# --- ImageBlend --------------------------------------------------------------------------------------------------

BASE = [0.1, 0.2, 0.5, 0.8, 0.9, 0.3]
LAYER = [0.6, 0.6, 0.3, 0.6, 0.2, 0.9]


def expected_blend(a: float, b: float, mode: str) -> float:
    """The blend formulas of the W3C compositing spec (difference kept signed, as ComfyUI does), per pixel."""
    if mode == "normal":
        return b
    if mode == "multiply":
        return a * b
    if mode == "screen":
        return a + b - a * b
    if mode == "overlay":  # hard light with the layers swapped: decided by the base
        return 2 * a * b if a <= 0.5 else 1 - 2 * (1 - a) * (1 - b)
    if mode == "soft_light":
        if b <= 0.5:
            return a - (1 - 2 * b) * a * (1 - a)
        d = ((16 * a - 12) * a + 4) * a if a <= 0.25 else a ** 0.5
        return a + (2 * b - 1) * (d - a)
    return a - b


@pytest.mark.parametrize("mode", ["normal", "multiply", "screen", "overlay", "soft_light", "difference"])
@pytest.mark.parametrize("factor", [0.5, 1.0])
def test_blend_modes_per_pixel(runner, mode, factor):
    base = torch.tensor(BASE).reshape(1, 2, 3, 1).repeat(1, 1, 1, 3)
    layer = torch.tensor(LAYER).reshape(1, 2, 3, 1).repeat(1, 1, 1, 3)
    out = runner.run("ImageBlend", {"blend_factor": factor, "blend_mode": mode},
                     {"image1": (base, IMAGE), "image2": (layer, IMAGE)})
    expected = [min(1.0, max(0.0, a * (1 - factor) + expected_blend(a, b, mode) * factor)) for a, b in zip(BASE, LAYER)]
    np.testing.assert_allclose(out[0, ..., 0].flatten().numpy(), expected, atol=1e-6)
    assert torch.equal(out[..., 0], out[..., 2])


def test_blend_resizes_image2_bicubic_centre_cropped(runner):
    base, layer = image(batch=1, height=4, width=4, seed=3), image(batch=1, height=4, width=8, seed=4)
    out = runner.run("ImageBlend", {"blend_factor": 1.0, "blend_mode": "normal"},
                     {"image1": (base, IMAGE), "image2": (layer, IMAGE)})
    # 8x4 to 4x4: columns 2..5 kept (round((8 - 4) / 2) = 2), then a same-size bicubic, which changes nothing
    cropped = torch.nn.functional.interpolate(layer[:, :, 2:6, :].permute(0, 3, 1, 2), size=(4, 4), mode="bicubic")
    torch.testing.assert_close(out, cropped.permute(0, 2, 3, 1).clamp(0, 1))


def test_blend_gives_an_rgb_image2_an_opaque_alpha(runner):
    base = torch.full((1, 2, 2, 4), 0.4)
    layer = torch.full((1, 2, 2, 3), 0.8)
    out = runner.run("ImageBlend", {"blend_factor": 0.5, "blend_mode": "normal"},
                     {"image1": (base, IMAGE), "image2": (layer, IMAGE)})
    torch.testing.assert_close(out[..., :3], torch.full((1, 2, 2, 3), 0.6))
    torch.testing.assert_close(out[..., 3], torch.full((1, 2, 2), 0.7))  # 0.4 mixed with an alpha of 1


def test_blend_refuses_batches_that_cannot_pair(runner):
    result = runner.run_result("ImageBlend", {"blend_factor": 0.5, "blend_mode": "normal"},
                               {"image1": (image(batch=2), IMAGE), "image2": (image(batch=3), IMAGE)})
    assert not result.ok and result.user_facing_error and "image2 3" in result.error.exception_message


# --- ImageQuantize -----------------------------------------------------------------------------------------------

def to_pillow(frame: torch.Tensor) -> Image.Image:
    return Image.fromarray((frame.numpy() * 255).astype(np.uint8), mode="RGB")


def from_pillow(picture: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(picture.convert("RGB")).astype(np.float32) / 255)


@pytest.mark.parametrize("colors", [2, 5])
@pytest.mark.parametrize("dither,pillow_dither", [("none", Image.Dither.NONE),
                                                  ("floyd-steinberg", Image.Dither.FLOYDSTEINBERG)])
def test_quantize_matches_pillow(runner, colors, dither, pillow_dither):
    img = image(height=8, width=9, seed=5)
    out = runner.run("ImageQuantize", {"colors": colors, "dither": dither}, {"image": (img, IMAGE)})
    for frame, got in zip(img, out):
        picture = to_pillow(frame)
        palette = picture.quantize(colors=colors)
        torch.testing.assert_close(got, from_pillow(picture.quantize(palette=palette, dither=pillow_dither)))
        assert len(torch.unique(got.reshape(-1, 3), dim=0)) <= colors


def test_quantize_bayer_4_adds_the_ordered_thresholds(runner):
    # the 4x4 Bayer index matrix, offsets (index + 0.5) / 16 - 0.5 in palette steps; the palette spacing is
    # 2 * 256 / number of palette entries
    index = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]])
    offsets = (index + 0.5) / 16 - 0.5
    img = image(batch=1, height=6, width=5, seed=6)
    out = runner.run("ImageQuantize", {"colors": 4, "dither": "bayer-4"}, {"image": (img, IMAGE)})
    picture = to_pillow(img[0])
    palette = picture.quantize(colors=4)
    spread = 2 * 256 / (len(palette.getpalette()) // 3)
    tiled = np.tile(spread * offsets + 0.5, (2, 2))[:6, :5, None]
    shifted = np.clip(np.asarray(picture).astype(np.float64) + tiled, 0, 255).astype(np.uint8)
    expected = Image.fromarray(shifted).quantize(palette=palette, dither=Image.Dither.NONE)
    torch.testing.assert_close(out[0], from_pillow(expected))


def test_quantize_keeps_alpha(runner):
    img = image(batch=1, channels=4, seed=7)
    out = runner.run("ImageQuantize", {"colors": 3, "dither": "none"}, {"image": (img, IMAGE)})
    torch.testing.assert_close(out[..., 3], img[..., 3])
    picture = to_pillow(img[0, ..., :3])
    expected = picture.quantize(palette=picture.quantize(colors=3), dither=Image.Dither.NONE)
    torch.testing.assert_close(out[0, ..., :3], from_pillow(expected))


def test_bayer_offsets_are_the_index_matrices_centred():
    from nodes.postprocessing.quantize import bayer_thresholds

    two = np.array([[0, 2], [3, 1]])
    four = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]])
    np.testing.assert_array_equal(bayer_thresholds(2), (two + 0.5) / 4 - 0.5)
    np.testing.assert_array_equal(bayer_thresholds(4), (four + 0.5) / 16 - 0.5)
