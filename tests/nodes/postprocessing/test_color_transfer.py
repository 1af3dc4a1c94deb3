"""ColorTransfer through the real engine: Lab against the standard values, the Lab methods by the statistics their
output must have, the Monge-Kantorovich map against scipy's matrix square roots, the histogram method by hand."""
from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from nodes.postprocessing.color_transfer import monge_kantorovich
from nodes.postprocessing.lab_color import lab_to_rgb, rgb_to_lab
from tests.nodes.latent.latent_helpers import IMAGE


def smooth(batch, low, span, tint, seed) -> torch.Tensor:
    """Soft random colours in low..low+span, tinted, well inside sRGB so no matched colour gets clipped."""
    coarse = torch.rand((batch, 3, 3, 3), generator=torch.Generator().manual_seed(seed))
    fine = torch.nn.functional.interpolate(coarse, size=(12, 10), mode="bilinear")
    return (low + span * fine * torch.tensor(tint).reshape(1, 3, 1, 1)).permute(0, 2, 3, 1).contiguous()


def transfer(runner, target, ref, method, stats="per_frame", strength=1.0, index=None):
    inputs = {"method": method, "source_stats": stats, "strength": strength}
    if index is not None:
        inputs["source_stats.target_index"] = index
    return runner.run("ColorTransfer", inputs, {"image_target": (target, IMAGE), "image_ref": (ref, IMAGE)})


def lab(frame: torch.Tensor) -> np.ndarray:
    """[H, W, 3] -> Lab pixels [3, N] in float64."""
    return rgb_to_lab(frame.permute(2, 0, 1).double()).reshape(3, -1).numpy()


def test_lab_of_known_colours():
    # white, black, sRGB red and 50% grey in CIE Lab (D65): the usual published values
    rgb = torch.tensor([[1, 1, 1], [0, 0, 0], [1, 0, 0], [0.5, 0.5, 0.5]], dtype=torch.float64).T.reshape(3, 2, 2)
    expected = np.array([[100, 0, 0], [0, 0, 0], [53.2408, 80.0925, 67.2032], [53.3890, 0, 0]])
    np.testing.assert_allclose(rgb_to_lab(rgb).reshape(3, 4).T.numpy(), expected, atol=0.006)
    torch.testing.assert_close(lab_to_rgb(rgb_to_lab(rgb)), rgb)


def test_reinhard_matches_each_channels_mean_and_spread(runner):
    target, ref = smooth(2, 0.3, 0.4, (1.0, 0.8, 0.5), 1), smooth(1, 0.25, 0.3, (0.6, 0.9, 1.0), 2)
    out = transfer(runner, target, ref, "reinhard_lab")
    wanted = lab(ref[0])
    for frame in out:
        got = lab(frame)
        np.testing.assert_allclose(got.mean(1), wanted.mean(1), atol=2e-3)
        np.testing.assert_allclose(got.std(1), wanted.std(1), rtol=2e-3)


def test_mkl_matches_mean_and_covariance(runner):
    target, ref = smooth(1, 0.3, 0.4, (1.0, 0.7, 0.4), 3), smooth(1, 0.3, 0.3, (0.5, 0.8, 1.0), 4)
    got, wanted = lab(transfer(runner, target, ref, "mkl_lab")[0]), lab(ref[0])
    np.testing.assert_allclose(got.mean(1), wanted.mean(1), atol=2e-3)
    np.testing.assert_allclose(np.cov(got, bias=True), np.cov(wanted, bias=True), rtol=5e-3, atol=5e-3)


def test_monge_kantorovich_map_is_the_symmetric_root_solution():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    source, target = a @ a.T + 0.1 * np.eye(3), b @ b.T + 0.1 * np.eye(3)
    root = np.real(scipy.linalg.sqrtm(source))
    inverse_root = np.linalg.inv(root)
    expected = inverse_root @ np.real(scipy.linalg.sqrtm(root @ target @ root)) @ inverse_root
    got = monge_kantorovich(torch.from_numpy(source), torch.from_numpy(target)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got @ source @ got, target, rtol=1e-8, atol=1e-10)


def test_target_frame_applies_one_frames_map_to_all(runner):
    target, ref = smooth(2, 0.3, 0.4, (1.0, 0.8, 0.6), 6), smooth(1, 0.3, 0.3, (0.7, 0.9, 1.0), 7)
    out = transfer(runner, target, ref, "reinhard_lab", "target_frame", index=1)
    base, wanted = lab(target[1]), lab(ref[0])
    scale = wanted.std(1, keepdims=True) / base.std(1, keepdims=True)
    for frame, result in zip(target, out):
        expected = (lab(frame) - base.mean(1, keepdims=True)) * scale + wanted.mean(1, keepdims=True)
        np.testing.assert_allclose(lab(result), expected, atol=2e-2)


def test_uniform_over_copies_of_one_frame_is_per_frame(runner):
    frame, ref = smooth(1, 0.3, 0.4, (1.0, 0.6, 0.8), 8), smooth(1, 0.3, 0.3, (0.8, 1.0, 0.6), 9)
    for method in ("reinhard_lab", "mkl_lab", "histogram"):
        pooled = transfer(runner, torch.cat([frame, frame]), ref, method, "uniform")
        single = transfer(runner, frame, ref, method)
        torch.testing.assert_close(pooled, torch.cat([single, single]), atol=1e-5, rtol=0)


def grey(levels: list[int]) -> torch.Tensor:
    """A 2x2 grey image whose pixels fall in the given histogram bins (bin k holds (k + 0.5) / 255)."""
    values = (torch.tensor(levels, dtype=torch.float32) + 0.5) / 255
    return values.reshape(1, 2, 2, 1).repeat(1, 1, 1, 3)


def test_histogram_by_hand(runner):
    # target bins 0, 100, 200, 255 have cumulative shares 1/4, 2/4, 3/4, 1; the reference (50, 50, 150, 250) first
    # reaches them at bins 50, 50, 150, 250
    out = transfer(runner, grey([0, 100, 200, 255]), grey([50, 50, 150, 250]), "histogram")
    expected = torch.tensor([50, 50, 150, 250], dtype=torch.float32).reshape(1, 2, 2, 1).repeat(1, 1, 1, 3) / 255
    torch.testing.assert_close(out, expected)
    half = transfer(runner, grey([0, 100, 200, 255]), grey([50, 50, 150, 250]), "histogram", strength=0.5)
    torch.testing.assert_close(half, (expected + grey([0, 100, 200, 255])) / 2)


def test_strength_zero_and_alpha(runner):
    target, ref = smooth(1, 0.3, 0.4, (1.0, 0.8, 0.5), 10), smooth(1, 0.3, 0.3, (0.6, 0.9, 1.0), 11)
    torch.testing.assert_close(transfer(runner, target, ref, "mkl_lab", strength=0.0), target)
    alpha = torch.full((1, 12, 10, 1), 0.25)
    out = transfer(runner, torch.cat([target, alpha], -1), torch.cat([ref, alpha * 2], -1), "reinhard_lab")
    torch.testing.assert_close(out[..., 3:], alpha)
    torch.testing.assert_close(out[..., :3], transfer(runner, target, ref, "reinhard_lab"))


def test_images_of_different_kinds_are_refused(runner):
    result = runner.run_result("ColorTransfer", {"method": "histogram", "source_stats": "per_frame", "strength": 1.0},
                               {"image_target": (torch.rand(1, 4, 4, 3), IMAGE),
                                "image_ref": (torch.rand(1, 4, 4, 1), IMAGE)})
    assert not result.ok and result.user_facing_error and "same kind" in result.error.exception_message
