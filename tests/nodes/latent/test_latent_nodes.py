"""EmptyLatentImage, LatentUpscale, LatentUpscaleBy and SetLatentNoiseMask, run through the real engine."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.nodes.latent.latent_helpers import LATENT, MASK, node_errors

METHODS = ["nearest-exact", "bilinear", "area", "bicubic"]


def latent(shape=(2, 4, 8, 12), seed=0, **extra) -> dict:
    return {"samples": torch.randn(shape, generator=torch.Generator().manual_seed(seed)), **extra}


def test_empty_latent_image_shape_dtype_device_and_zeros(runner):
    out = runner.run("EmptyLatentImage", {"width": 640, "height": 360, "batch_size": 3})
    assert set(out) == {"samples"}
    samples = out["samples"]
    assert samples.shape == (3, 4, 45, 80)
    assert samples.dtype == torch.float32 and samples.device.type == "cpu"
    assert torch.count_nonzero(samples) == 0


def test_empty_latent_image_floors_sides_not_multiple_of_8(runner):
    # the engine does not enforce `step`, as ComfyUI does not; the side is divided down as ComfyUI does
    out = runner.run("EmptyLatentImage", {"width": 100, "height": 20, "batch_size": 1})
    assert out["samples"].shape == (1, 4, 2, 12)


@pytest.mark.parametrize("inputs,expected", [
    ({"width": 7, "height": 512, "batch_size": 1}, [("value_smaller_than_min", "width")]),
    ({"width": 512, "height": 20000, "batch_size": 1}, [("value_bigger_than_max", "height")]),
    ({"width": 512, "height": 512, "batch_size": 0}, [("value_smaller_than_min", "batch_size")]),
    ({"width": 512, "height": 512, "batch_size": 4097}, [("value_bigger_than_max", "batch_size")]),
])
def test_empty_latent_image_range_errors(runner, engine, inputs, expected):
    prompt, _ = runner.prompt("EmptyLatentImage", inputs)
    assert node_errors(engine, prompt) == expected


def test_empty_latent_image_bounds_are_inclusive(runner):
    out = runner.run("EmptyLatentImage", {"width": 16, "height": 16384, "batch_size": 1})
    assert out["samples"].shape == (1, 4, 2048, 2)


@pytest.mark.parametrize("method", METHODS)
def test_latent_upscale_matches_interpolate_and_keeps_other_keys(runner, method):
    source = latent(batch_index=[3, 4], noise_mask=torch.ones(2, 1, 8, 12))
    out = runner.run("LatentUpscale", {"upscale_method": method, "width": 160, "height": 128, "crop": "disabled"},
                     {"samples": (source, LATENT)})
    expected = F.interpolate(source["samples"], size=(16, 20), mode=method)
    assert out["samples"].shape == (2, 4, 16, 20) and out["samples"].dtype == torch.float32
    torch.testing.assert_close(out["samples"], expected)
    assert out["batch_index"] == [3, 4] and out["noise_mask"] is source["noise_mask"]
    assert source["samples"].shape == (2, 4, 8, 12)  # the input dict is not changed


def test_latent_upscale_center_crop_offsets(runner):
    # 12x8 cells (aspect 1.5) to 64x64 px = 8x8 cells (aspect 1): x = round((12 - 12 * (1 / 1.5)) / 2) = 2
    source = latent((1, 4, 8, 12))
    out = runner.run("LatentUpscale", {"upscale_method": "bilinear", "width": 64, "height": 64, "crop": "center"},
                     {"samples": (source, LATENT)})
    expected = F.interpolate(source["samples"][:, :, :, 2:10], size=(8, 8), mode="bilinear")
    torch.testing.assert_close(out["samples"], expected)
    # taller than the target: 8 wide x 13 high to 8x8: y = round((13 - 13 * (8/13)) / 2) = round(2.5) = 2
    # (Python rounds half to even, as ComfyUI does)
    tall = latent((1, 4, 13, 8), seed=1)
    out = runner.run("LatentUpscale", {"upscale_method": "nearest-exact", "width": 64, "height": 64, "crop": "center"},
                     {"samples": (tall, LATENT)})
    expected = F.interpolate(tall["samples"][:, :, 2:11, :], size=(8, 8), mode="nearest-exact")
    torch.testing.assert_close(out["samples"], expected)


@pytest.mark.parametrize("width,height,expected_cells", [
    (0, 256, (32, 48)),   # height 256 -> width round(12 * 256 / 8) = 384 -> 32x48 cells
    (192, 0, (16, 24)),   # width 192 -> height round(8 * 192 / 12) = 128
    (0, 8, (8, 12)),      # the given side is raised to 64; width round(12 * 64 / 8) = 96
    (16, 16, (8, 8)),     # both sides raised to at least 64 px
])
def test_latent_upscale_zero_side_keeps_aspect(runner, width, height, expected_cells):
    source = latent((1, 4, 8, 12))
    inputs = {"upscale_method": "nearest-exact", "width": width, "height": height, "crop": "disabled"}
    out = runner.run("LatentUpscale", inputs, {"samples": (source, LATENT)})
    assert tuple(out["samples"].shape[-2:]) == expected_cells


def test_latent_upscale_both_zero_passes_through(runner):
    source = latent(extra_key="kept")
    out = runner.run("LatentUpscale", {"upscale_method": "bicubic", "width": 0, "height": 0, "crop": "center"},
                     {"samples": (source, LATENT)})
    assert out["samples"] is source["samples"] and out["extra_key"] == "kept"


def test_latent_upscale_validation(runner, engine):
    source = latent()
    inputs = {"upscale_method": "lanczos", "width": 20000, "height": -8, "crop": "edge"}
    prompt, _ = runner.prompt("LatentUpscale", inputs, {"samples": (source, LATENT)})
    assert sorted(node_errors(engine, prompt)) == [("value_bigger_than_max", "width"), ("value_not_in_list", "crop"),
                                                   ("value_not_in_list", "upscale_method"),
                                                   ("value_smaller_than_min", "height")]


@pytest.mark.parametrize("scale_by,expected", [(1.5, (12, 18)), (0.5, (4, 6)), (0.3, (2, 4)), (2.0, (16, 24))])
def test_latent_upscale_by_rounds_sides(runner, scale_by, expected):
    source = latent((1, 4, 8, 12), tag="x")
    out = runner.run("LatentUpscaleBy", {"upscale_method": "area", "scale_by": scale_by}, {"samples": (source, LATENT)})
    torch.testing.assert_close(out["samples"], F.interpolate(source["samples"], size=expected, mode="area"))
    assert out["tag"] == "x"


@pytest.mark.parametrize("scale_by,error", [(0.0, "value_smaller_than_min"), (8.5, "value_bigger_than_max")])
def test_latent_upscale_by_range(runner, engine, scale_by, error):
    prompt, _ = runner.prompt("LatentUpscaleBy", {"upscale_method": "area", "scale_by": scale_by},
                              {"samples": (latent(), LATENT)})
    assert node_errors(engine, prompt) == [(error, "scale_by")]


@pytest.mark.parametrize("mask_shape", [(8, 12), (2, 8, 12), (2, 1, 8, 12)])
def test_set_latent_noise_mask_reshapes_mask_and_keeps_keys(runner, mask_shape):
    source = latent(batch_index=[0, 1])
    mask = torch.rand(mask_shape, generator=torch.Generator().manual_seed(5))
    out = runner.run("SetLatentNoiseMask", {}, {"samples": (source, LATENT), "mask": (mask, MASK)})
    assert out["samples"] is source["samples"] and out["batch_index"] == [0, 1]
    assert out["noise_mask"].shape == (mask.numel() // 96, 1, 8, 12)
    torch.testing.assert_close(out["noise_mask"].flatten(), mask.flatten())
    assert "noise_mask" not in source


def test_set_latent_noise_mask_replaces_an_old_mask(runner):
    source = latent(noise_mask=torch.zeros(1, 1, 8, 12))
    mask = torch.ones(1, 8, 12)
    out = runner.run("SetLatentNoiseMask", {}, {"samples": (source, LATENT), "mask": (mask, MASK)})
    assert torch.equal(out["noise_mask"], torch.ones(1, 1, 8, 12))
    assert torch.count_nonzero(source["noise_mask"]) == 0


def test_chained_empty_then_upscale(runner, engine):
    from tests.nodes.latent.latent_helpers import CAUGHT

    prompt = {
        "e": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 2}},
        "u": {"class_type": "LatentUpscaleBy",
              "inputs": {"samples": ["e", 0], "upscale_method": "bicubic", "scale_by": 1.5}},
        "out": {"class_type": "TCatch", "inputs": {"value": ["u", 0], "key": "chain"}},
    }
    assert engine.run(prompt).ok
    assert CAUGHT.pop("chain")["samples"].shape == (2, 4, 144, 96)
