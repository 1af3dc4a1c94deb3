"""MaskComposite, ImageCompositeMasked and LatentCompositeMasked on tiny hand-made masks, images and latents."""
from __future__ import annotations

import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.masks.mask_nodes import ImageCompositeMasked, LatentCompositeMasked, MaskComposite
from tests.nodes.latent.latent_helpers import IMAGE, LATENT, MASK

SOURCE_2x2 = torch.tensor([[[1.0, 0.25],
                            [0.0, 0.75]]])


def combine(destination, operation, x=3, y=1, source=SOURCE_2x2):
    (out,) = MaskComposite().combine(destination, source, x, y, operation)
    return out


@pytest.mark.parametrize("operation,column", [
    ("multiply", [0.6 * 1.0, 0.6 * 0.0]),
    ("add", [1.0, 0.6]),           # 1.6 clamped to 1
    ("subtract", [0.0, 0.6]),      # -0.4 clamped to 0
    ("and", [1.0, 0.0]),           # round(0.6) = 1 and 1; 1 and 0
    ("or", [1.0, 1.0]),
    ("xor", [0.0, 1.0]),
])
def test_mask_composite_places_the_source_at_x_y_and_cuts_it_at_the_edge(operation, column):
    destination = torch.full((1, 3, 4), 0.6)
    out = combine(destination, operation)
    expected = torch.full((1, 3, 4), 0.6)
    expected[0, 1:3, 3] = torch.tensor(column)  # only the source's first column fits, in rows 1 and 2
    torch.testing.assert_close(out, expected)
    assert torch.all(destination == 0.6)  # the input is not changed


def test_mask_composite_rounds_half_to_even_and_clamps_everything(runner):
    destination = torch.tensor([[[0.5, 1.5, 0.5], [1.0, -0.5, 1.0]]])
    source = torch.tensor([[[1.0]]])
    out = runner.run("MaskComposite", {"x": 0, "y": 0, "operation": "and"},
                     {"destination": (destination, MASK), "source": (source, MASK)})
    # 0.5 rounds to 0 (half to even), so "and" gives 0 there; the rest is only clamped
    assert out.tolist() == [[[0.0, 1.0, 0.5], [1.0, 0.0, 1.0]]]


def test_mask_composite_batches_and_positions():
    destination = torch.zeros(2, 2, 2)
    out = combine(destination, "add", x=1, y=0, source=torch.tensor([[[0.5, 0.9]]]))
    assert out.tolist() == [[[0.0, 0.5], [0.0, 0.0]]] * 2  # one source mask for every destination mask
    beyond = combine(torch.full((1, 2, 2), 0.3), "add", x=5, y=0)
    assert torch.all(beyond == 0.3)
    with pytest.raises(InvalidNodeInput, match="source has 3 masks and destination 2"):
        combine(destination, "add", source=torch.ones(3, 1, 1))


def test_image_composite_without_a_mask_pastes_the_source(runner):
    destination = torch.zeros(1, 4, 4, 3)
    source = torch.ones(1, 2, 2, 3)
    out = runner.run("ImageCompositeMasked", {"x": 3, "y": 2, "resize_source": False},
                     {"destination": (destination, IMAGE), "source": (source, IMAGE)})
    expected = torch.zeros(1, 4, 4, 3)
    expected[0, 2:4, 3] = 1.0
    torch.testing.assert_close(out, expected)
    assert torch.all(destination == 0)


def test_image_composite_blends_through_a_mask_resized_to_the_source(runner):
    destination = torch.full((1, 3, 3, 3), 0.2)
    source = torch.full((1, 2, 2, 3), 0.6)
    mask = torch.tensor([[[1.0, 1.0, 0.0, 0.0],
                          [1.0, 1.0, 0.0, 0.0],
                          [0.5, 0.5, 0.0, 1.0],
                          [0.5, 0.5, 1.0, 1.0]]])  # to 2x2 by bilinear: each 2x2 block's mean
    out = runner.run("ImageCompositeMasked", {"x": 1, "y": 1, "resize_source": False},
                     {"destination": (destination, IMAGE), "source": (source, IMAGE), "mask": (mask, MASK)})
    weights = torch.tensor([[1.0, 0.0], [0.5, 0.75]])
    expected = torch.full((1, 3, 3, 3), 0.2)
    expected[0, 1:, 1:] = (weights * 0.6 + (1 - weights) * 0.2)[..., None]
    torch.testing.assert_close(out, expected)


def test_image_composite_alpha_and_batches():
    destination = torch.zeros(3, 1, 2, 4)
    destination[..., 3] = 0.5
    source = torch.stack([torch.full((1, 1, 3), 0.1), torch.full((1, 1, 3), 0.9)])  # batch 2, no alpha
    (out,) = ImageCompositeMasked().composite(destination, source, 1, 0, False)
    assert out.shape == (3, 1, 2, 4)
    # the source batch is repeated (0.1, 0.9, 0.1); a missing alpha is pasted as opaque
    torch.testing.assert_close(out[:, 0, 1], torch.tensor([[0.1] * 3 + [1.0], [0.9] * 3 + [1.0], [0.1] * 3 + [1.0]]))
    assert out[:, 0, 0].tolist() == [[0.0, 0.0, 0.0, 0.5]] * 3
    # an alpha channel the destination does not have is dropped
    (rgb,) = ImageCompositeMasked().composite(torch.zeros(1, 1, 1, 3), torch.full((1, 1, 1, 4), 0.4), 0, 0, False)
    assert rgb.shape == (1, 1, 1, 3) and rgb.flatten().tolist() == pytest.approx([0.4] * 3)


def test_image_composite_resize_source_scales_it_to_the_destination():
    destination = torch.zeros(1, 3, 4, 3)
    (out,) = ImageCompositeMasked().composite(destination, torch.full((1, 1, 1, 3), 0.3), 2, 1, True)
    expected = torch.zeros(1, 3, 4, 3)
    expected[0, 1:, 2:] = 0.3  # the source is now 3x4: what fits from (2, 1) on is pasted
    torch.testing.assert_close(out, expected)


def test_latent_composite_works_in_cells_of_8_pixels_and_keeps_other_entries(runner):
    destination = {"samples": torch.zeros(1, 4, 4, 4), "batch_index": [5], "noise_mask": torch.ones(1, 1, 4, 4)}
    source = {"samples": torch.ones(1, 4, 2, 2)}
    out = runner.run("LatentCompositeMasked", {"x": 15, "y": 16, "resize_source": False},
                     {"destination": (destination, LATENT), "source": (source, LATENT)})
    expected = torch.zeros(1, 4, 4, 4)
    expected[..., 2:4, 1:3] = 1.0  # x 15 px -> cell 1, y 16 px -> cell 2
    torch.testing.assert_close(out["samples"], expected)
    assert out["batch_index"] == [5] and out["noise_mask"] is destination["noise_mask"]
    assert torch.all(destination["samples"] == 0)


def test_latent_composite_mask_in_pixels_is_resized_to_the_source_cells():
    destination = {"samples": torch.zeros(2, 4, 2, 3)}
    source = {"samples": torch.full((1, 4, 2, 2), 2.0)}
    mask = torch.zeros(16, 16)
    mask[:, :8] = 1.0  # the left cell column of the 2x2-cell source
    (out,) = LatentCompositeMasked().composite(destination, source, 8, 0, False, mask)
    expected = torch.zeros(2, 4, 2, 3)
    expected[..., :, 1] = 2.0
    torch.testing.assert_close(out["samples"], expected)


def test_latent_composite_of_another_model_family_is_a_clear_error(runner):
    destination = {"samples": torch.zeros(1, 4, 4, 4)}
    source = {"samples": torch.zeros(1, 16, 4, 4)}
    result = runner.run_result("LatentCompositeMasked", {"x": 0, "y": 0, "resize_source": False},
                               {"destination": (destination, LATENT), "source": (source, LATENT)})
    assert not result.ok
    assert "same kind of model" in result.error.exception_message
