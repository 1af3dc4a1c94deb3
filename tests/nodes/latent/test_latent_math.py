"""comfy_extras.nodes_latent's arithmetic and batch nodes (LatentAdd, LatentSubtract, LatentMultiply,
LatentInterpolate, LatentBatch, LatentBatchSeedBehavior) run through the real engine."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.nodes.latent.latent_helpers import LATENT


def filled(values: list[float], channels: int = 4, height: int = 2, width: int = 2) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(-1, 1, 1, 1).expand(-1, channels, height, width).clone()


def items(latents: torch.Tensor) -> list[float]:
    return [float(latent.flatten()[0]) for latent in latents]


@pytest.mark.parametrize("node,sign", [("LatentAdd", 1), ("LatentSubtract", -1)])
def test_add_and_subtract_same_shape_and_keep_the_first_latents_keys(runner, node, sign):
    first = {"samples": filled([3.0, 5.0]), "batch_index": [1, 2]}
    out = runner.run(node, {}, {"samples1": (first, LATENT), "samples2": ({"samples": filled([2.0, 0.5])}, LATENT)})
    assert items(out["samples"]) == [3.0 + sign * 2.0, 5.0 + sign * 0.5] and out["batch_index"] == [1, 2]


@pytest.mark.parametrize("node,sign", [("LatentAdd", 1), ("LatentSubtract", -1)])
def test_add_and_subtract_fit_the_second_to_the_first_size_and_batch(runner, node, sign):
    generator = torch.Generator().manual_seed(3)
    first = torch.randn(3, 4, 2, 2, generator=generator)
    second = torch.randn(2, 4, 4, 4, generator=generator)
    out = runner.run(node, {}, {"samples1": ({"samples": first}, LATENT), "samples2": ({"samples": second}, LATENT)})
    # halving each side bilinearly averages 2x2 blocks; 2 latents onto 3 repeat in turn: 0, 1, 0
    halved = F.avg_pool2d(second, 2)[[0, 1, 0]]
    torch.testing.assert_close(out["samples"], first + sign * halved)


def test_add_refuses_latents_of_another_model(runner):
    result = runner.run_result("LatentAdd", {}, {"samples1": ({"samples": torch.zeros(1, 4, 2, 2)}, LATENT),
                                                 "samples2": ({"samples": torch.zeros(1, 16, 2, 2)}, LATENT)})
    assert not result.ok and "samples2" in result.error.exception_message
    assert "same number of channels" in result.error.exception_message


def test_latent_multiply(runner):
    out = runner.run("LatentMultiply", {"multiplier": -1.5}, {"samples": ({"samples": filled([2.0, -4.0])}, LATENT)})
    assert items(out["samples"]) == [-3.0, 6.0]


def interpolate_by_hand(first: np.ndarray, second: np.ndarray, ratio: float) -> np.ndarray:
    """Cell by cell: blend the unit directions, renormalise, give the blended length (zero vectors: direction 0)."""
    out = np.zeros_like(first)
    for b in range(first.shape[0]):
        for y in range(first.shape[2]):
            for x in range(first.shape[3]):
                a, c = first[b, :, y, x], second[b, :, y, x]
                la, lc = np.linalg.norm(a), np.linalg.norm(c)
                da = a / la if la else np.zeros_like(a)
                dc = c / lc if lc else np.zeros_like(c)
                mixed = da * ratio + dc * (1 - ratio)
                lm = np.linalg.norm(mixed)
                out[b, :, y, x] = (mixed / lm if lm else 0) * (la * ratio + lc * (1 - ratio))
    return out


def test_latent_interpolate_one_cell_by_hand(runner):
    first = torch.tensor([3.0, 4.0, 0.0, 0.0]).reshape(1, 4, 1, 1)  # length 5
    second = torch.tensor([0.0, 0.0, 0.0, 2.0]).reshape(1, 4, 1, 1)  # length 2
    out = runner.run("LatentInterpolate", {"ratio": 0.5}, {"samples1": ({"samples": first}, LATENT),
                                                           "samples2": ({"samples": second}, LATENT)})
    # directions (.6, .8, 0, 0) and (0, 0, 0, 1) -> mix (.3, .4, 0, .5), length sqrt(.5); blended length 3.5
    expected = torch.tensor([0.3, 0.4, 0.0, 0.5]) / 0.5 ** 0.5 * 3.5
    torch.testing.assert_close(out["samples"].flatten(), expected)


def test_latent_interpolate_a_batch_with_zero_cells(runner):
    generator = torch.Generator().manual_seed(5)
    first = torch.randn(2, 4, 3, 3, generator=generator)
    second = torch.randn(2, 4, 3, 3, generator=generator)
    second[1, :, 0, 0] = 0  # no direction: counts as 0
    out = runner.run("LatentInterpolate", {"ratio": 0.3}, {"samples1": ({"samples": first}, LATENT),
                                                           "samples2": ({"samples": second}, LATENT)})
    expected = interpolate_by_hand(first.numpy(), second.numpy(), 0.3)
    np.testing.assert_allclose(out["samples"].numpy(), expected, rtol=1e-5, atol=1e-6)
    out = runner.run("LatentInterpolate", {"ratio": 1.0}, {"samples1": ({"samples": first}, LATENT),
                                                           "samples2": ({"samples": second}, LATENT)})
    torch.testing.assert_close(out["samples"], first)


def test_latent_batch_joins_resized_latents_with_their_indices(runner):
    first = {"samples": filled([1.0, 2.0]), "noise_mask": torch.ones(1, 1, 16, 16)}
    second = {"samples": filled([3.0], height=4, width=4)}
    out = runner.run("LatentBatch", {}, {"samples1": (first, LATENT), "samples2": (second, LATENT)})
    assert out["samples"].shape == (3, 4, 2, 2) and items(out["samples"]) == [1.0, 2.0, 3.0]
    assert out["batch_index"] == [0, 1, 0] and out["noise_mask"] is not None
    first["batch_index"], second["batch_index"] = [5, 6], [9]
    out = runner.run("LatentBatch", {}, {"samples1": (first, LATENT), "samples2": (second, LATENT)})
    assert out["batch_index"] == [5, 6, 9]


def test_latent_batch_seed_behavior(runner):
    source = {"samples": filled([1.0, 2.0, 3.0]), "batch_index": [4, 7, 9]}
    out = runner.run("LatentBatchSeedBehavior", {"seed_behavior": "fixed"}, {"samples": (source, LATENT)})
    assert out["batch_index"] == [4, 4, 4]
    out = runner.run("LatentBatchSeedBehavior", {"seed_behavior": "fixed"},
                     {"samples": ({"samples": filled([1.0, 2.0])}, LATENT)})
    assert out["batch_index"] == [0, 0]
    out = runner.run("LatentBatchSeedBehavior", {"seed_behavior": "random"}, {"samples": (source, LATENT)})
    assert "batch_index" not in out and source["batch_index"] == [4, 7, 9]
