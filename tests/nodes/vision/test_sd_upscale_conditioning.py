"""SD_4XUpscale_Conditioning: the concat image (bilinear, centre crop, -1..1) and noise augmentation on both
conditionings, and the latent of the output size / 4; bilinear resampling written out in numpy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.vision.sd_upscale_nodes import SD_4XUpscale_Conditioning


def bilinear(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """Half-pixel-centred bilinear resampling (no antialiasing) of [h, w, c] to [c, height, width]."""
    old_h, old_w = picture.shape[:2]

    def axis(new: int, old: int):
        position = np.clip((np.arange(new) + 0.5) * old / new - 0.5, 0, old - 1)
        low = np.floor(position).astype(int)
        return low, np.minimum(low + 1, old - 1), position - low

    y0, y1, fy = axis(height, old_h)
    x0, x1, fx = axis(width, old_w)
    rows = picture[y0] * (1 - fy)[:, None, None] + picture[y1] * fy[:, None, None]
    return (rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]).transpose(2, 0, 1)


def test_both_conditionings_get_the_image_and_the_latent_is_the_output_size_over_4():
    images = torch.rand((2, 16, 24, 3), generator=torch.Generator().manual_seed(1))
    text = torch.randn(1, 3, 8)
    positive = [[text, {"pooled_output": torch.ones(1, 2)}]]
    negative = [[text * 0, {}], [text * 2, {"strength": 0.5}]]
    pos, neg, latent = SD_4XUpscale_Conditioning().encode(images, positive, negative, 2.5, 0.2)
    # 24x16 at 2.5 -> 60x40; the image is read at 15x10 (the same aspect: nothing cropped)
    assert latent["samples"].shape == (2, 4, 10, 15) and not latent["samples"].any()
    expected = torch.tensor(np.stack([bilinear(p * 2 - 1, 15, 10) for p in images.numpy()]), dtype=torch.float32)
    assert len(pos) == 1 and len(neg) == 2
    for text_out, options in (*pos, *neg):
        torch.testing.assert_close(options["concat_image"], expected, atol=1e-5, rtol=0)
        assert options["noise_augmentation"] == 0.2
    assert pos[0][0] is text and pos[0][1]["pooled_output"] is positive[0][1]["pooled_output"]
    assert neg[1][1]["strength"] == 0.5 and "concat_image" not in positive[0][1]  # the inputs are not changed


def test_a_wider_source_is_centre_cropped_and_tiny_scales_are_refused():
    images = torch.rand((1, 10, 40, 3), generator=torch.Generator().manual_seed(2))
    # 40x10 at 0.5 -> 20x5, read at 5x1 (5:1); the 4:1 source loses one row at the top and bottom first
    positive, _, latent = SD_4XUpscale_Conditioning().encode(images, [[torch.zeros(1, 1, 1), {}]], [], 0.5, 0.0)
    assert latent["samples"].shape == (1, 4, 1, 5)
    expected = bilinear((images[0].numpy() * 2 - 1)[1:9], 5, 1)[None]
    torch.testing.assert_close(positive[0][1]["concat_image"], torch.tensor(expected, dtype=torch.float32),
                               atol=1e-5, rtol=0)
    with pytest.raises(InvalidNodeInput, match="scale_ratio 0.1"):
        SD_4XUpscale_Conditioning().encode(images, [], [], 0.1, 0.0)
