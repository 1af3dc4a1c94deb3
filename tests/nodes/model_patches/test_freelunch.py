"""FreeU and FreeU_V2: the output block patch on known tensors against numpy's FFT, and sampling on the tiny SD1 UNet
(base width 32: the patch acts where h has 128 or 64 channels)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nodes.model_patches.freelunch import FreeU, FreeU_V2, fourier_filter
from tests.nodes.model_patches.sampling import SAME, count_patch_calls, sampled


def numpy_filter(x: np.ndarray, scale: float) -> np.ndarray:
    """The centred 2x2 lowest frequencies of each channel's spectrum scaled by `scale`."""
    spectrum = np.fft.fftshift(np.fft.fft2(x), axes=(-2, -1))
    row, col = x.shape[-2] // 2, x.shape[-1] // 2
    spectrum[..., row - 1:row + 1, col - 1:col + 1] *= scale
    return np.fft.ifft2(np.fft.ifftshift(spectrum, axes=(-2, -1))).real


def tensor(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 2, 5, 7)])
def test_fourier_filter_matches_numpy(shape):
    x = tensor(*shape)
    expected = numpy_filter(x.double().numpy(), 0.3)
    assert not np.allclose(expected, x.numpy(), atol=1e-3)
    np.testing.assert_allclose(fourier_filter(x, 1, 0.3).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(fourier_filter(x, 1, 1.0).numpy(), x.numpy(), atol=1e-5)


def output_patch(node, model, *factors):
    patched, = node().patch(model, *factors)
    return patched.model_options["transformer_options"]["patches"]["output_block_patch"][0]


@pytest.mark.parametrize("channels, b, s", [(128, 1.5, 0.3), (64, 0.7, 0.6)])
def test_freeu_scales_the_backbone_half_and_filters_the_skip(model, channels, b, s):
    patch = output_patch(FreeU, model, *((1.5, 0.7, 0.3, 0.6)))
    h, skip = tensor(2, channels, 6, 6, seed=1), tensor(2, channels, 6, 6, seed=2)
    out_h, out_skip = patch(h.clone(), skip.clone(), {})
    half = channels // 2
    np.testing.assert_allclose(out_h[:, :half].numpy(), h[:, :half].numpy() * b, rtol=1e-6)
    np.testing.assert_allclose(out_h[:, half:].numpy(), h[:, half:].numpy())
    np.testing.assert_allclose(out_skip.numpy(), numpy_filter(skip.double().numpy(), s), atol=1e-5)


def test_freeu_leaves_other_widths_alone(model):
    patch = output_patch(FreeU, model, 1.5, 0.7, 0.3, 0.6)
    h, skip = tensor(1, 32, 4, 4, seed=1), tensor(1, 32, 4, 4, seed=2)
    out_h, out_skip = patch(h, skip, {})
    assert torch.equal(out_h, h) and torch.equal(out_skip, skip)


def test_freeu_v2_scales_the_backbone_by_the_normalised_channel_mean(model):
    patch = output_patch(FreeU_V2, model, 1.5, 0.7, 0.3, 0.6)
    h, skip = tensor(2, 128, 6, 6, seed=3), tensor(2, 128, 6, 6, seed=4)
    out_h, out_skip = patch(h.clone(), skip.clone(), {})
    mean = h.double().numpy().mean(axis=1, keepdims=True)
    low, high = mean.min(axis=(1, 2, 3), keepdims=True), mean.max(axis=(1, 2, 3), keepdims=True)
    factor = (1.5 - 1) * (mean - low) / (high - low) + 1
    np.testing.assert_allclose(out_h[:, :64].numpy(), h[:, :64].numpy() * factor, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out_h[:, 64:].numpy(), h[:, 64:].numpy())
    np.testing.assert_allclose(out_skip.numpy(), numpy_filter(skip.double().numpy(), 0.3), atol=1e-5)


@pytest.mark.parametrize("node", [FreeU, FreeU_V2])
def test_sampling_with_freeu(model, node, unpatched_sample):
    plain = unpatched_sample
    neutral, = node().patch(model, 1.0, 1.0, 1.0, 1.0)
    torch.testing.assert_close(sampled(neutral), plain, **SAME)
    patched, = node().patch(model, 1.3, 1.4, 0.9, 0.2)
    calls = count_patch_calls(patched)
    assert (sampled(patched) - plain).abs().max() > 0.05
    assert calls["output_block_patch"] == 2 * 4  # 2 steps of one call (cond and uncond batched), 4 output blocks
