"""ImageScaleToTotalPixels through the real engine: the target size worked out by hand, pixels by torch and Pillow."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tests.nodes.latent.latent_helpers import IMAGE


def image(batch=2, height=6, width=10, channels=3, seed=0) -> torch.Tensor:
    return torch.rand((batch, height, width, channels), generator=torch.Generator().manual_seed(seed))


def scale(runner, img, method="bilinear", megapixels=0.01, steps=1):
    return runner.run("ImageScaleToTotalPixels",
                      {"upscale_method": method, "megapixels": megapixels, "resolution_steps": steps},
                      {"image": (img, IMAGE)})


def test_scales_to_the_pixel_count_keeping_the_aspect(runner):
    # 0.01 MP = 10485.76 pixels; 10x6 = 60 pixels: scale sqrt(174.76) = 13.2198 -> 132.198 x 79.319 -> 132 x 79
    img = image()
    out = scale(runner, img)
    assert out.shape == (2, 79, 132, 3)
    expected = F.interpolate(img.permute(0, 3, 1, 2), size=(79, 132), mode="bilinear").permute(0, 2, 3, 1)
    torch.testing.assert_close(out, expected)


def test_resolution_steps_round_each_side_to_a_multiple(runner):
    # 132.198 / 8 = 16.52 -> 17 * 8 = 136; 79.319 / 8 = 9.91 -> 10 * 8 = 80
    out = scale(runner, image(batch=1), "area", steps=8)
    assert out.shape == (1, 80, 136, 3)


def test_downscale_of_a_large_image(runner):
    # 400x300 = 120000 pixels to 0.01 MP: scale sqrt(10485.76 / 120000) = 0.29560 -> 118.24 x 88.68 -> 118 x 89
    img = image(batch=1, height=300, width=400, seed=1)
    out = scale(runner, img, "nearest-exact")
    expected = F.interpolate(img.permute(0, 3, 1, 2), size=(89, 118), mode="nearest-exact").permute(0, 2, 3, 1)
    torch.testing.assert_close(out, expected)


def test_lanczos_goes_through_pillow(runner):
    img = image(batch=1, seed=2)
    out = scale(runner, img, "lanczos")
    pixels = np.clip(img[0].numpy() * 255.0, 0, 255).astype(np.uint8)
    resized = np.asarray(Image.fromarray(pixels).resize((132, 79), Image.Resampling.LANCZOS), dtype=np.float32) / 255
    torch.testing.assert_close(out[0], torch.from_numpy(resized), atol=0, rtol=0)


def test_a_side_rounded_to_nothing_is_a_clear_error(runner):
    # 79.319 / 256 rounds to 0 rows
    result = runner.run_result("ImageScaleToTotalPixels",
                               {"upscale_method": "bilinear", "megapixels": 0.01, "resolution_steps": 256},
                               {"image": (image(), IMAGE)})
    assert not result.ok and result.user_facing_error
    assert "resolution_steps" in result.error.exception_message


def test_memory_estimate_names_the_target_size(tmp_path):
    from graph_engine import Engine, Folders
    from PIL import Image as PILImage
    from tests.fixtures.registries import builtin_registry

    folders = Folders.under(tmp_path)
    folders.create()
    PILImage.new("RGB", (64, 32)).save(folders.input / "wide.png")
    budget = {"bytes": 1 << 26}
    engine = Engine(builtin_registry(folders), folders, memory_budget=lambda: budget["bytes"])
    prompt = {"load": {"class_type": "LoadImage", "inputs": {"image": "wide.png"}},
              "scale": {"class_type": "ImageScaleToTotalPixels", "inputs": {
                  "image": ["load", 0], "upscale_method": "bilinear", "megapixels": 16.0, "resolution_steps": 1}},
              "show": {"class_type": "PreviewImage", "inputs": {"images": ["scale", 0]}}}
    # 16 MP of a 64x32 file: scale sqrt(16 * 2^20 / 2048) = 90.51 -> 5792.6 x 2896.3 -> 5793 x 2896 RGB floats,
    # after the loaded 64 x 32 RGB image
    [error] = engine.validate(prompt).node_errors["scale"].errors
    assert error.type == "memory_estimate_exceeded"
    assert error.extra["estimated_bytes"] == 64 * 32 * 3 * 4 + 5793 * 2896 * 3 * 4
    prompt["scale"]["inputs"]["megapixels"] = 1.0
    assert engine.validate(prompt).ok
