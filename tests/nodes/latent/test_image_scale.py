"""ImageScale and ImageScaleBy, run through the real engine, against torch and Pillow computed here."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tests.nodes.latent.latent_helpers import IMAGE, node_errors

METHODS = ["nearest-exact", "bilinear", "area", "bicubic"]


def image(batch=2, height=6, width=10, channels=3, seed=0) -> torch.Tensor:
    return torch.rand((batch, height, width, channels), generator=torch.Generator().manual_seed(seed))


def by_interpolate(img: torch.Tensor, height: int, width: int, method: str) -> torch.Tensor:
    return F.interpolate(img.permute(0, 3, 1, 2), size=(height, width), mode=method).permute(0, 2, 3, 1)


def by_pillow(img: torch.Tensor, height: int, width: int) -> torch.Tensor:
    frames = []
    for frame in img.numpy():
        pixels = (np.clip(frame * 255.0, 0, 255)).astype(np.uint8)
        resized = Image.fromarray(pixels).resize((width, height), Image.Resampling.LANCZOS)
        frames.append(np.asarray(resized, dtype=np.float32) / 255.0)
    return torch.from_numpy(np.stack(frames))


def scale(runner, img, method, width, height, crop="disabled"):
    return runner.run("ImageScale", {"upscale_method": method, "width": width, "height": height, "crop": crop},
                      {"image": (img, IMAGE)})


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("width,height", [(15, 9), (4, 3)])
def test_image_scale_matches_interpolate(runner, method, width, height):
    img = image()
    out = scale(runner, img, method, width, height)
    assert out.shape == (2, height, width, 3) and out.dtype == torch.float32
    torch.testing.assert_close(out, by_interpolate(img, height, width, method))


@pytest.mark.parametrize("channels,width,height", [(3, 23, 13), (3, 5, 4), (4, 7, 7)])
def test_image_scale_lanczos_matches_pillow(runner, channels, width, height):
    img = image(channels=channels, seed=3)
    out = scale(runner, img, "lanczos", width, height)
    assert out.shape == (2, height, width, channels) and out.dtype == torch.float32
    torch.testing.assert_close(out, by_pillow(img, height, width), atol=0, rtol=0)


def test_image_scale_center_crop_wide_source(runner):
    # 10x6 (aspect 5/3) to 4x4: x = round((10 - 10 * (1 / (5/3))) / 2) = round(2.0) = 2, keep columns 2..7
    img = image()
    out = scale(runner, img, "bilinear", 4, 4, "center")
    torch.testing.assert_close(out, by_interpolate(img[:, :, 2:8, :], 4, 4, "bilinear"))


def test_image_scale_center_crop_tall_source(runner):
    # 5 wide x 9 high to 10x6 (aspect 5/3): y = round((9 - 9 * ((5/9) / (5/3))) / 2) = round(3.0) = 3, keep rows 3..5
    img = image(height=9, width=5, seed=2)
    out = scale(runner, img, "nearest-exact", 10, 6, "center")
    torch.testing.assert_close(out, by_interpolate(img[:, 3:6, :, :], 6, 10, "nearest-exact"))


def test_image_scale_center_crop_lanczos(runner):
    img = image(height=8, width=16, seed=4)  # aspect 2 to 1: x = round((16 - 8) / 2) = 4
    out = scale(runner, img, "lanczos", 8, 8, "center")
    torch.testing.assert_close(out, by_pillow(img[:, :, 4:12, :], 8, 8), atol=0, rtol=0)


def test_image_scale_center_crop_same_aspect_is_plain_resize(runner):
    img = image(height=6, width=10)
    torch.testing.assert_close(scale(runner, img, "area", 5, 3, "center"), by_interpolate(img, 3, 5, "area"))


@pytest.mark.parametrize("size,expected", [
    ((10, 6), (0, 3, (3, 5))),    # width from height: round(10 * 3 / 6) = 5
    ((10, 6), (4, 0, (2, 4))),    # height from width: round(6 * 4 / 10) = round(2.4) = 2
    ((10, 2), (1, 0, (1, 1))),    # round(2 * 1 / 10) = 0, raised to 1
    ((3, 7), (0, 14, (14, 6))),
])
def test_image_scale_zero_side_keeps_aspect(runner, size, expected):
    width, height, (out_h, out_w) = expected
    img = image(1, size[1], size[0])
    out = scale(runner, img, "bicubic", width, height)
    assert tuple(out.shape) == (1, out_h, out_w, 3)
    torch.testing.assert_close(out, by_interpolate(img, out_h, out_w, "bicubic"))


def test_image_scale_both_zero_passes_through(runner):
    img = image()
    assert scale(runner, img, "lanczos", 0, 0, "center") is img


def test_image_scale_validation(runner, engine):
    inputs = {"upscale_method": "bislerp", "width": 20000, "height": -1, "crop": "center"}
    prompt, _ = runner.prompt("ImageScale", inputs, {"image": (image(), IMAGE)})
    assert sorted(node_errors(engine, prompt)) == [("value_bigger_than_max", "width"),
                                                   ("value_not_in_list", "upscale_method"),
                                                   ("value_smaller_than_min", "height")]


def test_image_scale_max_is_16384(runner, engine):
    prompt, _ = runner.prompt("ImageScale", {"upscale_method": "area", "width": 16384, "height": 1, "crop": "disabled"},
                              {"image": (image(), IMAGE)})
    assert engine.validate(prompt).ok
    prompt["n"]["inputs"]["width"] = 16385
    assert node_errors(engine, prompt) == [("value_bigger_than_max", "width")]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scale_by,expected", [(1.5, (9, 15)), (0.25, (2, 2)), (0.35, (2, 4))])
def test_image_scale_by_matches_interpolate(runner, method, scale_by, expected):
    img = image()
    out = runner.run("ImageScaleBy", {"upscale_method": method, "scale_by": scale_by}, {"image": (img, IMAGE)})
    torch.testing.assert_close(out, by_interpolate(img, *expected, method))


def test_image_scale_by_lanczos(runner):
    img = image(seed=7)
    out = runner.run("ImageScaleBy", {"upscale_method": "lanczos", "scale_by": 2.0}, {"image": (img, IMAGE)})
    torch.testing.assert_close(out, by_pillow(img, 12, 20), atol=0, rtol=0)


@pytest.mark.parametrize("scale_by,error", [(0.001, "value_smaller_than_min"), (9.0, "value_bigger_than_max")])
def test_image_scale_by_range(runner, engine, scale_by, error):
    prompt, _ = runner.prompt("ImageScaleBy", {"upscale_method": "area", "scale_by": scale_by},
                              {"image": (image(), IMAGE)})
    assert node_errors(engine, prompt) == [(error, "scale_by")]


def test_image_scale_by_tiny_factor_keeps_one_pixel(runner):
    out = runner.run("ImageScaleBy", {"upscale_method": "area", "scale_by": 0.01}, {"image": (image(), IMAGE)})
    assert tuple(out.shape) == (2, 1, 1, 3)
