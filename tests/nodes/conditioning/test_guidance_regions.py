"""The sampler's guidance honours areas, strengths, masks and timestep ranges as ComfyUI's calc_cond_batch does.

A toy denoiser predicts, for every pixel of its (cropped) input, the value its prompt's hidden state holds, so the
guided prediction at each pixel is the weighted mean of the prompts covering it, which the tests compute by hand.
"""
from __future__ import annotations

import math

import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.diffusion.conditioning import (ConditioningSetArea, ConditioningSetAreaPercentage, ConditioningSetMask,
                                          ConditioningSetTimestepRange)
from nodes.runtime.guidance import GuidedDenoiser, read_conditioning
from nodes.runtime.models.patching import new_model_options
from nodes.runtime.sampling import sd_schedule
from tests.nodes.conditioning.cond_helpers import entry

H = W = 32  # latent pixels


class PromptValueModel:
    """A MODEL stand-in whose x0 prediction is the prompt's value everywhere; records the crops it is given."""

    uses_size_conditioning = False
    image_input = None

    def __init__(self):
        self.schedule = sd_schedule()
        self.model_options = new_model_options()  # unpatched
        self.calls: list[tuple[tuple[int, ...], list[float]]] = []

    def denoiser(self):
        def denoise(x, sigma, *, context, **call_options):  # transformer_options: unused here
            values = context[:, 0, 0]
            self.calls.append((tuple(x.shape), [float(v) for v in values]))
            return values.view(-1, 1, 1, 1).expand(x.shape).clone()
        return denoise


def guided(positive, negative, cfg=1.0, model=None):
    model = model or PromptValueModel()
    return GuidedDenoiser(model, read_conditioning(positive, "positive"), read_conditioning(negative, "negative"), cfg)


def latent(batch=1):
    return torch.zeros(batch, 4, H, W)


def at(sigma: float) -> torch.Tensor:
    return torch.tensor([sigma])


def ramp(n: int) -> torch.Tensor:
    return torch.arange(1, n + 1, dtype=torch.float32) / n


def test_an_area_mixes_with_the_whole_image_prompt_and_fades_in_at_its_inner_edges():
    area = ConditioningSetArea().append([entry(10.0)], width=128, height=64, x=64, y=0, strength=2.0)[0]
    out = guided([entry(1.0)] + area, [entry(0.0)])(latent(), at(1.0))[0, 0]
    # Rows 0..7, columns 8..23 at strength 2; it touches the top border, so no fade there.
    expected_weight = torch.zeros(H, W)
    expected_weight[0:8, 8:24] = 2.0
    fade_w, fade_h = min(8, 16 // 4), min(8, 8 // 4)
    expected_weight[0:8, 8:8 + fade_w] *= ramp(fade_w)
    expected_weight[0:8, 24 - fade_w:24] *= ramp(fade_w).flip(0)
    expected_weight[8 - fade_h:8, 8:24] *= ramp(fade_h).flip(0).view(-1, 1)  # bottom edge is inside
    expected = (1.0 * 1.0 + 10.0 * expected_weight) / (1.0 + expected_weight)
    assert torch.allclose(out, expected.expand(4, H, W), atol=1e-6)


def test_an_area_entry_gets_a_partner_over_its_area_in_the_other_prompt():
    model = PromptValueModel()
    area = ConditioningSetArea().append([entry(10.0)], width=64, height=64, x=0, y=0, strength=1.0)[0]
    out = guided([entry(1.0)] + area, [entry(-3.0)], cfg=2.0, model=model)(latent(), at(1.0))
    crops = sorted((shape[-2:], value) for shape, values in model.calls for value in values)
    # The negative prompt is also predicted on the 8x8 crop (the partner), with the negative's text.
    assert crops == [((8, 8), -3.0), ((8, 8), 10.0), ((H, W), -3.0), ((H, W), 1.0)]
    # Outside the area: uncond + (cond - uncond) * 2 with cond = 1, uncond = -3.
    assert torch.allclose(out[0, :, 20:, 20:], torch.tensor(5.0))
    # Top-left corner (no fade: it touches the borders): cond = (1 + 10) / 2, uncond = -3.
    assert torch.allclose(out[0, :, 0, 0], torch.tensor(-3.0 + (5.5 + 3.0) * 2.0))


def test_no_partner_when_the_other_prompt_already_has_that_area():
    model = PromptValueModel()
    pos = ConditioningSetArea().append([entry(10.0)], width=64, height=64, x=0, y=0, strength=1.0)[0]
    neg = ConditioningSetArea().append([entry(-1.0)], width=64, height=64, x=0, y=0, strength=1.0)[0]
    guided(pos, neg, cfg=3.0, model=model)(latent(), at(1.0))
    assert sorted(v for _, values in model.calls for v in values) == [-1.0, 10.0]


def test_a_partner_takes_the_text_of_the_smallest_area_around_it():
    model = PromptValueModel()
    inner = ConditioningSetArea().append([entry(10.0)], width=64, height=64, x=64, y=64, strength=1.0)[0]
    big = ConditioningSetArea().append([entry(-1.0)], width=256, height=256, x=0, y=0, strength=1.0)[0]
    small = ConditioningSetArea().append([entry(-2.0)], width=128, height=128, x=0, y=0, strength=1.0)[0]
    apart = ConditioningSetArea().append([entry(-3.0)], width=128, height=64, x=128, y=128, strength=1.0)[0]
    guided(inner, [entry(-4.0)] + big + small + apart, cfg=3.0, model=model)(latent(), at(1.0))
    assert sorted(v for shape, values in model.calls if shape[-2:] == (8, 8) for v in values) == [-2.0, 10.0]


def test_percentage_areas_are_resolved_against_the_latent():
    model = PromptValueModel()
    area = ConditioningSetAreaPercentage().append([entry(10.0)], width=0.5, height=0.25, x=0.5, y=0.125,
                                                  strength=1.0)[0]
    guided(area, [entry(0.0)], model=model)(latent(), at(1.0))
    assert model.calls[0][0] == (1, 4, round(0.25 * H), round(0.5 * W))


def test_a_mask_weights_its_prompt_pixel_by_pixel_at_the_latents_size():
    mask = torch.zeros(1, 64, 64)  # pixel-like size: scaled (bilinear) to the 32x32 latent
    mask[:, :32, :] = 1.0
    masked = ConditioningSetMask().append([entry(10.0)], mask, "default", 0.5)[0]
    out = guided([entry(2.0)] + masked, [entry(0.0)])(latent(), at(1.0))[0, 0]
    scaled = torch.nn.functional.interpolate(mask.unsqueeze(1), size=(H, W), mode="bilinear")[0, 0]
    weight = scaled * 0.5
    assert torch.allclose(out, (2.0 + 10.0 * weight) / (1.0 + weight), atol=1e-6)
    assert torch.allclose(out[0], torch.tensor((2.0 + 5.0) / 1.5)) and torch.allclose(out[-1], torch.tensor(2.0))


def test_mask_bounds_crop_the_prediction_to_the_masks_box():
    model = PromptValueModel()
    mask = torch.zeros(H, W)
    mask[4:7, 10:30] = 1.0  # 3 rows high: the box grows to 8
    masked = ConditioningSetMask().append([entry(10.0)], mask, "mask bounds", 1.0)[0]
    out = guided([entry(1.0)] + masked, [entry(0.0)], model=model)(latent(), at(1.0))[0, 0]
    assert (8, 20) in [shape[-2:] for shape, _ in model.calls]
    expected = torch.ones(H, W)
    expected[4:7, 10:30] = (1.0 + 10.0) / 2.0  # no fade with a mask
    assert torch.allclose(out, expected, atol=1e-6)


def test_an_empty_mask_with_bounds_changes_nothing():
    masked = ConditioningSetMask().append([entry(10.0)], torch.zeros(1, H, W), "mask bounds", 1.0)[0]
    out = guided([entry(1.0)] + masked, [entry(0.0)])(latent(), at(1.0))
    assert torch.allclose(out, torch.ones_like(out))


def test_a_mask_batch_follows_the_latent_batch():
    mask = torch.stack([torch.ones(H, W), torch.zeros(H, W)])
    masked = ConditioningSetMask().append([entry(10.0)], mask, "default", 1.0)[0]
    out = guided([entry(0.0)] + masked, [entry(0.0)])(latent(batch=4), at(1.0))
    assert [float(out[i, 0, 0, 0]) for i in range(4)] == [5.0, 0.0, 5.0, 0.0]
    with pytest.raises(InvalidNodeInput, match="does not divide"):
        guided([entry(0.0)] + masked, [entry(0.0)])(latent(batch=3), at(1.0))


def sd_sigma_at_percent(percent: float) -> float:
    """The SD schedule's sigma a fraction of the way through sampling, from the betas (log-linear in t)."""
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    log_sigmas = (((1 - torch.cumprod(1 - betas, 0)) / torch.cumprod(1 - betas, 0)) ** 0.5).float().log()
    t = (1.0 - percent) * 999
    low = math.floor(t)
    return math.exp((1 - (t - low)) * float(log_sigmas[low]) + (t - low) * float(log_sigmas[low + 1]))


def test_a_timestep_range_switches_its_entry_on_only_within_its_sigmas():
    late = ConditioningSetTimestepRange().set_range([entry(10.0)], 0.5, 1.0)[0]
    early = ConditioningSetTimestepRange().set_range([entry(-10.0)], 0.0, 0.5)[0]
    denoiser = guided(late + early + [entry(1.0)], [entry(0.0)])
    boundary = sd_sigma_at_percent(0.5)
    value = lambda sigma: float(denoiser(latent(), at(sigma))[0, 0, 0, 0])  # noqa: E731
    assert value(14.0) == pytest.approx((-10.0 + 1.0) / 2)
    assert value(boundary * 1.01) == pytest.approx((-10.0 + 1.0) / 2)
    assert value(boundary * 0.99) == pytest.approx((10.0 + 1.0) / 2)
    assert value(0.03) == pytest.approx((10.0 + 1.0) / 2)


def test_no_active_entry_predicts_zero_and_strength_zero_alone_predicts_zero():
    late = ConditioningSetTimestepRange().set_range([entry(10.0)], 0.5, 1.0)[0]
    out = guided(late, [entry(0.0)])(latent(), at(14.0))
    assert torch.equal(out, torch.zeros_like(out))
    weak = [entry(7.0, strength=0.0)]
    assert torch.equal(guided(weak, [entry(0.0)])(latent(), at(1.0)), torch.zeros(1, 4, H, W))


def test_a_malformed_area_or_mask_is_refused_with_the_prompt_named():
    with pytest.raises(InvalidNodeInput, match="positive: conditioning entry 0 has an area"):
        read_conditioning([entry(1.0, area=(1, 2))], "positive")
    with pytest.raises(InvalidNodeInput, match="negative: conditioning entry 0 has a mask"):
        read_conditioning([entry(1.0, mask=torch.zeros(1, 1, 2, 2))], "negative")
