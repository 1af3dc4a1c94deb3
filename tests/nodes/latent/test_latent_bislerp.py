"""The "bislerp" latent resize (LatentUpscale / LatentUpscaleBy), checked against values worked out by hand."""
from __future__ import annotations

import math

import pytest
import torch

from tests.nodes.latent.latent_helpers import LATENT


def two_cells(a, b, axis: str) -> dict:
    """A 1-batch latent of two cells side by side (axis "w") or one above the other ("h"), channels a and b."""
    cells = torch.tensor([a, b], dtype=torch.float32).T  # [C, 2]
    samples = cells[None, :, None, :] if axis == "w" else cells[None, :, :, None]
    return {"samples": samples}


def cells_along(out: torch.Tensor, axis: str) -> torch.Tensor:
    """[positions, C] read along the resized axis."""
    return (out[0, :, 0, :] if axis == "w" else out[0, :, :, 0]).T


def by(runner, source, scale_by=2.0):
    return runner.run("LatentUpscaleBy", {"upscale_method": "bislerp", "scale_by": scale_by},
                      {"samples": (source, LATENT)})["samples"]


@pytest.mark.parametrize("axis", ["w", "h"])
def test_bislerp_orthogonal_cells_turn_and_blend_length(runner, axis):
    # 2 -> 4 cells: bilinear places outputs at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    out = cells_along(by(runner, two_cells([2.0, 0.0], [0.0, 4.0], axis)), axis)
    expected = []
    for t in (0.0, 0.25, 0.75, 1.0):
        length = 2.0 * (1 - t) + 4.0 * t
        expected.append([length * math.cos(t * math.pi / 2), length * math.sin(t * math.pi / 2)])
    torch.testing.assert_close(out, torch.tensor(expected), atol=1e-5, rtol=1e-5)


def test_bislerp_parallel_cells_keep_the_first_and_opposite_cells_blend_linearly(runner):
    out = cells_along(by(runner, two_cells([1.0, 0.0], [3.0, 0.0], "w")), "w")
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [3.0, 0.0]]))
    out = cells_along(by(runner, two_cells([1.0, 0.0], [-1.0, 0.0], "w")), "w")
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0], [0.5, 0.0], [-0.5, 0.0], [-1.0, 0.0]]))


def test_bislerp_zero_cell_blends_length_only(runner):
    out = cells_along(by(runner, two_cells([0.0, 0.0], [0.0, 4.0], "w")), "w")
    # the zero cell has no direction: sin((1-t)w)/sin(w) * 0 + sin(t w)/sin(w) * b_dir with w = pi/2
    expected = [[0.0, 4.0 * t * math.sin(t * math.pi / 2)] for t in (0.0, 0.25, 0.75, 1.0)]
    torch.testing.assert_close(out, torch.tensor(expected), atol=1e-5, rtol=1e-5)


def test_bislerp_same_size_is_identity_and_keeps_dtype_and_keys(runner):
    samples = torch.randn((2, 4, 8, 12), generator=torch.Generator().manual_seed(0))
    out = runner.run("LatentUpscale", {"upscale_method": "bislerp", "width": 96, "height": 64, "crop": "disabled"},
                     {"samples": ({"samples": samples, "batch_index": [1, 2]}, LATENT)})
    torch.testing.assert_close(out["samples"], samples, atol=1e-5, rtol=1e-5)
    assert out["batch_index"] == [1, 2]
    half = by(runner, {"samples": samples.half()}, 1.5)
    assert half.dtype == torch.float16 and half.shape == (2, 4, 12, 18)
    assert torch.isfinite(half).all()


def test_bislerp_center_crop_and_downscale_shapes(runner):
    samples = torch.randn((1, 4, 8, 12), generator=torch.Generator().manual_seed(1))
    out = runner.run("LatentUpscale", {"upscale_method": "bislerp", "width": 64, "height": 64, "crop": "center"},
                     {"samples": ({"samples": samples}, LATENT)})["samples"]
    assert out.shape == (1, 4, 8, 8)
    torch.testing.assert_close(out, samples[:, :, :, 2:10], atol=1e-5, rtol=1e-5)  # crop only: same size after
    assert by(runner, {"samples": samples}, 0.5).shape == (1, 4, 4, 6)
