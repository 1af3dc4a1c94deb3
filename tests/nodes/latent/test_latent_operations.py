"""LatentOperationTonemapReinhard, LatentOperationSharpen and LatentApplyOperation: the operation nodes feed
LatentApplyOperation in one graph through the real engine; the expected latents are computed with numpy."""
from __future__ import annotations

import numpy as np
import torch

from tests.nodes.latent.latent_helpers import CAUGHT, LATENT


def apply(runner, latent: torch.Tensor, operation: str, inputs: dict) -> torch.Tensor:
    prompt, key = runner.prompt("LatentApplyOperation", {}, {"samples": ({"samples": latent, "batch_index": [2]},
                                                                         LATENT)})
    prompt["op"] = {"class_type": operation, "inputs": inputs}
    prompt["n"]["inputs"]["operation"] = ["op", 0]
    result = runner.engine.run(prompt)
    assert result.ok, result.error
    out = CAUGHT.pop(key)
    assert out["batch_index"] == [2]
    return out["samples"]


def tonemap_by_hand(latent: np.ndarray, multiplier: float) -> np.ndarray:
    length = np.sqrt((latent ** 2).sum(axis=1, keepdims=True)) + 1e-10  # [B, 1, H, W]
    out = np.empty_like(latent)
    for b in range(latent.shape[0]):
        lengths = length[b]
        top = (lengths.std(ddof=1) * 5 + lengths.mean()) * multiplier
        new_length = (lengths / top) / (lengths / top + 1) * top
        out[b] = latent[b] / lengths * new_length
    return out


def test_tonemap_reinhard_compresses_each_latents_lengths(runner):
    generator = torch.Generator().manual_seed(1)
    latent = torch.randn(2, 4, 5, 6, generator=generator) * torch.tensor([1.0, 3.0]).reshape(2, 1, 1, 1)
    out = apply(runner, latent, "LatentOperationTonemapReinhard", {"multiplier": 0.5})
    np.testing.assert_allclose(out.numpy(), tonemap_by_hand(latent.double().numpy(), 0.5), rtol=1e-5, atol=1e-6)
    # directions are kept, lengths shrink
    cosine = torch.nn.functional.cosine_similarity(out, latent, dim=1)
    assert cosine.min() > 0.9999 and out.norm() < latent.norm()


def sharpen_by_hand(latent: np.ndarray, radius: int, sigma: float, alpha: float) -> np.ndarray:
    size = radius * 2 + 1
    steps = np.linspace(-1, 1, size)
    kernel = np.exp(-(steps[:, None] ** 2 + steps[None, :] ** 2) / (2 * sigma * sigma))
    kernel = kernel / kernel.sum() * (alpha * -10)
    kernel[radius, radius] += 1 - kernel.sum()
    length = np.sqrt((latent ** 2).sum(axis=1, keepdims=True)) + 1e-6
    direction = latent / length
    padded = np.pad(direction, ((0, 0), (0, 0), (radius, radius), (radius, radius)), mode="reflect")
    out = np.zeros_like(latent)
    height, width = latent.shape[2:]
    for y in range(height):
        for x in range(width):
            window = padded[:, :, y:y + size, x:x + size]
            out[:, :, y, x] = (window * kernel).sum(axis=(2, 3))
    return out * length


def test_sharpen_is_an_unsharp_mask_on_directions(runner):
    generator = torch.Generator().manual_seed(2)
    latent = torch.randn(1, 4, 6, 7, generator=generator)
    out = apply(runner, latent, "LatentOperationSharpen", {"sharpen_radius": 2, "sigma": 0.7, "alpha": 0.3})
    expected = sharpen_by_hand(latent.double().numpy(), 2, 0.7, 0.3)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_sharpen_leaves_a_flat_latent_alone(runner):
    latent = torch.tensor([1.0, -2.0, 0.5, 3.0]).reshape(1, 4, 1, 1).expand(1, 4, 5, 5).contiguous()
    out = apply(runner, latent, "LatentOperationSharpen", {"sharpen_radius": 1, "sigma": 1.0, "alpha": 2.0})
    torch.testing.assert_close(out, latent, rtol=1e-5, atol=1e-5)


def test_sharpen_radius_larger_than_the_latent_is_refused(runner):
    prompt, _ = runner.prompt("LatentApplyOperation", {}, {"samples": ({"samples": torch.zeros(1, 4, 4, 4)}, LATENT)})
    prompt["op"] = {"class_type": "LatentOperationSharpen", "inputs": {"sharpen_radius": 9, "sigma": 1.0,
                                                                       "alpha": 0.1}}
    prompt["n"]["inputs"]["operation"] = ["op", 0]
    result = runner.engine.run(prompt)
    assert not result.ok and "use a smaller radius" in result.error.exception_message
