"""MaskPreview through the real engine: grey PNGs in the temp folder, the mask passed on unchanged."""
from __future__ import annotations

import re

import numpy as np
import torch
from PIL import Image

from tests.nodes.latent.latent_helpers import CAUGHT, MASK


def test_mask_preview_saves_grey_pngs_in_temp_and_passes_the_mask_on(runner, engine):
    mask = torch.tensor([[[0.0, 0.5, 1.0], [0.25, 0.999, 0.75]],
                         [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]])
    prompt, key = runner.prompt("MaskPreview", {}, {"mask": (mask, MASK)})
    result = engine.run(prompt)
    assert result.ok, result.error
    assert CAUGHT.pop(key) is mask
    shown = result.outputs["n"]
    assert list(shown["animated"]) == [False]
    assert [entry["type"] for entry in shown["images"]] == ["temp", "temp"]
    assert all(re.fullmatch(r"ComfyUI_temp_[a-z]{5}_\d{5}_\.png", entry["filename"]) for entry in shown["images"])
    expected = [[[0, 127, 255], [63, 254, 191]], [[255, 255, 255], [0, 0, 0]]]  # 255 * value, truncated
    for index, entry in enumerate(shown["images"]):
        with Image.open(engine.folders.temp / entry["subfolder"] / entry["filename"]) as png:
            assert png.mode == "RGB" and png.size == (3, 2)
            pixels = np.array(png)
        for channel in range(3):
            assert pixels[..., channel].tolist() == expected[index]
    assert not list(engine.folders.output.glob("*.png"))
