"""PorterDuffImageComposite, SplitImageWithAlpha and JoinImageWithAlpha; Porter-Duff results worked out by hand.

The pixel used throughout: source colour 0.8 with mask 0.5 (alpha 0.5), destination colour 0.4 with mask 0.75
(alpha 0.25); premultiplied, S = 0.4 and D = 0.1. Each mode gives (alpha, premultiplied colour); the image is
colour / alpha and the mask 1 - alpha.
"""
from __future__ import annotations

import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.masks.compositing import JoinImageWithAlpha, PorterDuffImageComposite, SplitImageWithAlpha
from tests.nodes.latent.latent_helpers import IMAGE, MASK

BY_HAND = {  # mode: (alpha, premultiplied colour)
    "ADD": (0.75, 0.5),
    "CLEAR": (0.0, 0.0),
    "DARKEN": (0.625, 0.75 * 0.4 + 0.5 * 0.1 + 0.1),
    "DST": (0.25, 0.1),
    "DST_ATOP": (0.5, 0.5 * 0.1 + 0.75 * 0.4),
    "DST_IN": (0.125, 0.05),
    "DST_OUT": (0.125, 0.05),
    "DST_OVER": (0.625, 0.1 + 0.75 * 0.4),
    "LIGHTEN": (0.625, 0.75 * 0.4 + 0.5 * 0.1 + 0.4),
    "MULTIPLY": (0.125, 0.04),
    "OVERLAY": (0.625, 2 * 0.4 * 0.1),  # 2D = 0.2 < da = 0.25
    "SCREEN": (0.625, 0.4 + 0.1 - 0.04),
    "SRC": (0.5, 0.4),
    "SRC_ATOP": (0.25, 0.25 * 0.4 + 0.5 * 0.1),
    "SRC_IN": (0.125, 0.1),
    "SRC_OUT": (0.375, 0.3),
    "SRC_OVER": (0.625, 0.4 + 0.5 * 0.1),
    "XOR": (0.5, 0.75 * 0.4 + 0.5 * 0.1),
}


def pixel(value: float, channels: int = 3, height: int = 1, width: int = 1) -> torch.Tensor:
    return torch.full((1, height, width, channels), value)


def composite(mode, source=None, source_mask=None, destination=None, destination_mask=None):
    return PorterDuffImageComposite().composite(
        pixel(0.8) if source is None else source, torch.full((1, 1, 1), 0.5) if source_mask is None else source_mask,
        pixel(0.4) if destination is None else destination,
        torch.full((1, 1, 1), 0.75) if destination_mask is None else destination_mask, mode)


@pytest.mark.parametrize("mode", sorted(BY_HAND))
def test_each_porter_duff_mode_on_one_pixel(mode):
    alpha, colour = BY_HAND[mode]
    image, mask = composite(mode)
    expected = min(colour / alpha, 1.0) if alpha > 0 else 0.0  # LIGHTEN's 1.2 is clamped to 1
    assert image.shape == (1, 1, 1, 3) and mask.shape == (1, 1, 1)
    torch.testing.assert_close(image, pixel(expected))
    torch.testing.assert_close(mask, torch.full((1, 1, 1), 1 - alpha))


def test_overlay_where_the_destination_is_bright():
    # d = 0.9, D = 0.225: 2D >= da, so sa*da - 2*(da - S)*(sa - D) = 0.125 + 2*0.15*0.275 = 0.2075
    image, mask = composite("OVERLAY", destination=pixel(0.9))
    torch.testing.assert_close(image, pixel(0.2075 / 0.625))
    torch.testing.assert_close(mask, torch.full((1, 1, 1), 0.375))


def test_porter_duff_through_the_engine_resizes_the_source_to_the_destination(runner):
    destination = pixel(0.4, height=2, width=3)
    image = runner.run("PorterDuffImageComposite", {"mode": "SRC_OVER"}, {
        "source": (pixel(0.8), IMAGE), "source_alpha": (torch.full((1, 1, 1), 0.5), MASK),
        "destination": (destination, IMAGE), "destination_alpha": (torch.full((1, 2, 3), 0.75), MASK)})
    torch.testing.assert_close(image, pixel(0.45 / 0.625, height=2, width=3))


def test_porter_duff_uses_the_smallest_batch_and_resizes_the_destination_mask():
    source = torch.cat([pixel(0.8), pixel(0.2)])
    image, mask = composite("SRC", source=source, source_mask=torch.zeros(3, 1, 1),
                            destination=pixel(0.4, height=2, width=2).repeat(4, 1, 1, 1),
                            destination_mask=torch.zeros(2, 3, 3))
    assert image.shape == (2, 2, 2, 3) and mask.shape == (2, 2, 2)
    torch.testing.assert_close(image[:, 0, 0, 0], torch.tensor([0.8, 0.2]))
    assert torch.all(mask == 0.0)


def test_porter_duff_with_different_channels_is_a_clear_error():
    with pytest.raises(InvalidNodeInput, match="source has 4 channels and destination 3"):
        composite("SRC", source=pixel(0.8, channels=4))


def test_split_takes_alpha_off_as_a_mask(runner):
    image = torch.tensor([[[[0.1, 0.2, 0.3, 1.0], [0.4, 0.5, 0.6, 0.25]]]])
    rgb = runner.run("SplitImageWithAlpha", {}, {"image": (image, IMAGE)})
    assert torch.equal(rgb, image[..., :3])
    _, mask = SplitImageWithAlpha().split_image_with_alpha(image)
    torch.testing.assert_close(mask, torch.tensor([[[0.0, 0.75]]]))
    plain, none = SplitImageWithAlpha().split_image_with_alpha(image[..., :3])
    assert torch.equal(plain, image[..., :3]) and none.shape == (1, 1, 2) and torch.all(none == 0.0)


def test_join_puts_one_minus_the_mask_as_alpha_resized_and_batched(runner):
    image = torch.tensor([[[[0.1, 0.2, 0.3, 0.9], [0.4, 0.5, 0.6, 0.9]],
                           [[0.7, 0.8, 0.9, 0.9], [1.0, 0.0, 0.5, 0.9]]]])  # 2x2 RGBA: its alpha is replaced
    masks = torch.stack([torch.tensor([[0.0, 0.0, 1.0, 1.0],
                                       [0.0, 0.0, 1.0, 1.0],
                                       [0.5, 0.5, 0.2, 0.4],
                                       [0.5, 0.5, 0.6, 0.8]]), torch.full((4, 4), 0.25)])
    out = runner.run("JoinImageWithAlpha", {}, {"image": (image, IMAGE), "alpha": (masks, MASK)})
    assert out.shape == (2, 2, 2, 4)
    assert torch.equal(out[..., :3], image[..., :3].expand(2, -1, -1, -1))  # the one image serves both masks
    # 4x4 to 2x2 by bilinear: each 2x2 block's mean, then 1 - mask
    torch.testing.assert_close(out[0, ..., 3], torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    torch.testing.assert_close(out[1, ..., 3], torch.full((2, 2), 0.75))


def test_split_undoes_join():
    image = torch.rand((2, 3, 4, 3), generator=torch.Generator().manual_seed(3))
    mask = torch.rand((2, 3, 4), generator=torch.Generator().manual_seed(4))
    (joined,) = JoinImageWithAlpha().join_image_with_alpha(image, mask)
    rgb, back = SplitImageWithAlpha().split_image_with_alpha(joined)
    assert torch.equal(rgb, image)
    torch.testing.assert_close(back, mask)
