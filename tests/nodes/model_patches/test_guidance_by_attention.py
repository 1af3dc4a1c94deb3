"""PerturbedAttentionGuidance and SelfAttentionGuidance on the tiny SD1 UNet: CFGGuider's x0 on the patched MODEL
against each method worked out here from the UNet's own forward (the middle block's self-attention module changed
or recorded) and numpy, and sampling at scale 0 as the unpatched model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nodes.model_patches.pag import PerturbedAttentionGuidance
from nodes.model_patches.sag import SelfAttentionGuidance, gaussian_blur
from tests.nodes.model_patches.predictions import cond, guided, own_prediction, sample_point
from tests.nodes.model_patches.sampling import SAME, count_patch_calls, sampled

CFG = 5.0
CLOSE = {"rtol": 1e-4, "atol": 2e-4}


class MiddleSelfAttention:
    """A stand-in computation for the middle block's attn1: `values_only` returns the values (PAG's perturbation); otherwise
    plain attention, its softmaxed scores kept in `scores` ([heads, queries, keys], float64)."""

    def __init__(self, values_only: bool = False) -> None:
        self.values_only = values_only
        self.scores: list[np.ndarray] = []

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, **kwargs):
        value = attn.to_v(hidden_states)
        if self.values_only:
            return attn.to_out[1](attn.to_out[0](value))
        heads, (batch, tokens, width) = attn.heads, value.shape
        split = lambda t: t.reshape(batch, tokens, heads, -1).transpose(1, 2)  # noqa: E731
        q, k, v = split(attn.to_q(hidden_states)), split(attn.to_k(hidden_states)), split(value)
        scores = (q.double() @ k.double().transpose(-1, -2) / (width // heads) ** 0.5).softmax(-1)
        self.scores.append(scores[0].numpy())
        out = (scores.float() @ v).transpose(1, 2).reshape(batch, tokens, width)
        return attn.to_out[1](attn.to_out[0](out))


def prediction_with(model, processor, conditioning, x, sigma):
    attn1 = model.unet.mid_block.attentions[0].transformer_blocks[0].attn1
    attn1.forward = lambda hidden_states, context=None: processor(attn1, hidden_states, context)
    try:
        return own_prediction(model, conditioning, x, sigma)
    finally:
        del attn1.forward


def numpy_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    offsets = np.linspace(-4, 4, 9)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    weights /= weights.sum()
    padded = np.pad(image, ((0, 0), (0, 0), (4, 4), (4, 4)), mode="reflect")
    rows = sum(w * padded[:, :, i:i + image.shape[2], :] for i, w in enumerate(weights))
    return sum(w * rows[:, :, :, i:i + image.shape[3]] for i, w in enumerate(weights))


@pytest.fixture
def point(model):
    x, sigma = sample_point(5, 3.0)
    pos, neg = own_prediction(model, cond(1), x, sigma), own_prediction(model, cond(2), x, sigma)
    return x, sigma, pos, neg, neg + CFG * (pos - neg)


def test_pag_adds_the_gap_to_the_positive_with_identity_attention(model, point):
    x, sigma, pos, neg, cfg = point
    perturbed = prediction_with(model, MiddleSelfAttention(values_only=True), cond(1), x, sigma)
    assert (perturbed - pos).abs().max() > 1e-3
    patched, = PerturbedAttentionGuidance().patch(model, 2.5)
    torch.testing.assert_close(guided(patched, CFG, x, sigma), cfg + 2.5 * (pos - perturbed), **CLOSE)
    assert "patches_replace" not in patched.model_options["transformer_options"]


@pytest.mark.parametrize("scale, blur_sigma", [(0.8, 2.0), (-1.5, 0.7)])
def test_sag_moves_away_from_the_negatives_view_of_its_blurred_x0(model, point, scale, blur_sigma):
    x, sigma, pos, neg, cfg = point
    recorder = MiddleSelfAttention()
    prediction_with(model, recorder, cond(2), x, sigma)
    attention_received = recorder.scores[0].mean(axis=0).sum(axis=0)  # per key of the 4x4 middle block
    assert np.abs(attention_received - 1.0).min() > 1e-4, "no key may sit on the threshold"
    attended = (attention_received > 1.0).reshape(4, 4).repeat(2, axis=0).repeat(2, axis=1)
    assert 0 < attended.sum() < 64
    neg64 = neg.double().numpy()
    degraded = np.where(attended, numpy_blur(neg64, blur_sigma), neg64)
    again = own_prediction(model, cond(2), torch.from_numpy(degraded).float() + x - neg, sigma)
    expected = cfg.double().numpy() + scale * (degraded - again.double().numpy())
    patched, = SelfAttentionGuidance().patch(model, scale, blur_sigma)
    torch.testing.assert_close(guided(patched, CFG, x, sigma), torch.from_numpy(expected).float(), **CLOSE)


def test_the_blur_against_numpy_and_at_sigma_zero():
    image = torch.randn(2, 3, 6, 7, generator=torch.Generator().manual_seed(2))
    np.testing.assert_allclose(gaussian_blur(image, 9, 1.3).numpy(), numpy_blur(image.double().numpy(), 1.3),
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gaussian_blur(image, 9, 0.0), image)  # no blur (ComfyUI's kernel would be NaN)


def test_sag_leaves_latents_too_small_to_blur(model):
    x, sigma = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(3)), torch.tensor([3.0])
    patched, = SelfAttentionGuidance().patch(model, 1.0, 2.0)
    torch.testing.assert_close(guided(patched, CFG, x, sigma), guided(model, CFG, x, sigma), **CLOSE)


@pytest.mark.parametrize("node, setting", [(PerturbedAttentionGuidance, ()), (SelfAttentionGuidance, (2.0,))])
def test_sampling_with_attention_guidance(model, unpatched_sample, node, setting):
    off, = node().patch(model, 0.0, *setting)
    torch.testing.assert_close(sampled(off), unpatched_sample, **SAME)
    on, = node().patch(model, 1.0, *setting)
    calls = count_patch_calls(on)
    assert (sampled(on) - unpatched_sample).abs().max() > 0.05
    assert calls["post_cfg"] == 2
