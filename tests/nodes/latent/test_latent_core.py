"""ComfyUI's core latent nodes (LatentFromBatch, RepeatLatentBatch, LatentRotate, LatentFlip, LatentCrop,
LatentComposite, LatentBlend) run through the real engine; expected values are written out by hand."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tests.nodes.latent.latent_helpers import LATENT


def numbered(batch: int, channels: int, height: int, width: int) -> torch.Tensor:
    """Latents whose every value is its own position: 0, 1, 2, ... in row-major order."""
    return torch.arange(batch * channels * height * width, dtype=torch.float32).reshape(batch, channels, height, width)


def per_item(values: list[float], channels: int = 4, height: int = 2, width: int = 2) -> torch.Tensor:
    """A batch where latent i is filled with values[i]: easy to tell which item went where."""
    return torch.tensor(values, dtype=torch.float32).reshape(-1, 1, 1, 1).expand(-1, channels, height, width).clone()


def items(latents: torch.Tensor) -> list[float]:
    return [float(latent.flatten()[0]) for latent in latents]


def test_latent_from_batch_negative_index_is_cut_at_the_end_and_numbers_the_items(runner):
    source = {"samples": per_item([0, 1, 2, 3, 4])}
    out = runner.run("LatentFromBatch", {"batch_index": -2, "length": 3}, {"samples": (source, LATENT)})
    assert items(out["samples"]) == [3, 4]  # -2 is item 3; only 2 items are left after it
    assert out["batch_index"] == [3, 4]


def test_latent_from_batch_clamps_the_start_and_keeps_given_batch_indices_and_masks(runner):
    masks = torch.stack([torch.full((1, 16, 16), 0.25), torch.full((1, 16, 16), 0.75)])  # 2 masks for 5 latents
    source = {"samples": per_item([0, 1, 2, 3, 4]), "batch_index": [10, 11, 12, 13, 14], "noise_mask": masks}
    out = runner.run("LatentFromBatch", {"batch_index": 3, "length": 2}, {"samples": (source, LATENT)})
    assert items(out["samples"]) == [3, 4] and out["batch_index"] == [13, 14]
    # masks repeat in turn over the batch (0.25, 0.75, 0.25, 0.75, 0.25): items 3 and 4 have 0.75 and 0.25
    assert [float(m.flatten()[0]) for m in out["noise_mask"]] == [0.75, 0.25]
    out = runner.run("LatentFromBatch", {"batch_index": 99, "length": 64}, {"samples": (source, LATENT)})
    assert items(out["samples"]) == [4] and out["batch_index"] == [14]


def test_latent_from_batch_a_single_mask_serves_the_picked_items(runner):
    mask = torch.full((1, 1, 16, 16), 0.5)
    source = {"samples": per_item([0, 1, 2]), "noise_mask": mask}
    out = runner.run("LatentFromBatch", {"batch_index": 1, "length": 2}, {"samples": (source, LATENT)})
    assert out["noise_mask"].shape == (1, 1, 16, 16) and torch.equal(out["noise_mask"], mask)
    assert items(out["samples"]) == [1, 2] and out["batch_index"] == [1, 2]


def test_repeat_latent_batch_repeats_the_whole_batch_its_masks_and_indices(runner):
    masks = torch.stack([torch.zeros(1, 16, 16), torch.ones(1, 16, 16)])
    source = {"samples": per_item([5, 6]), "noise_mask": masks, "batch_index": [3, 5]}
    out = runner.run("RepeatLatentBatch", {"amount": 3}, {"samples": (source, LATENT)})
    assert items(out["samples"]) == [5, 6, 5, 6, 5, 6]
    assert [float(m.flatten()[0]) for m in out["noise_mask"]] == [0, 1, 0, 1, 0, 1]
    # indices 3..5 span 3 numbers: each copy moves on by 3 so every copy gets its own noise
    assert out["batch_index"] == [3, 5, 6, 8, 9, 11]


def test_repeat_latent_batch_keeps_one_mask_and_adds_no_indices(runner):
    mask = torch.full((1, 1, 16, 16), 0.5)
    out = runner.run("RepeatLatentBatch", {"amount": 2}, {"samples": ({"samples": per_item([1]), "noise_mask": mask},
                                                                      LATENT)})
    assert items(out["samples"]) == [1, 1] and out["noise_mask"].shape == (1, 1, 16, 16)
    assert "batch_index" not in out


def test_latent_rotate_turns_clockwise(runner):
    source = {"samples": torch.tensor([[0., 1., 2.], [3., 4., 5.]]).reshape(1, 1, 2, 3)}
    expected = {
        "none": [[0., 1., 2.], [3., 4., 5.]],
        "90 degrees": [[3., 0.], [4., 1.], [5., 2.]],
        "180 degrees": [[5., 4., 3.], [2., 1., 0.]],
        "270 degrees": [[2., 5.], [1., 4.], [0., 3.]],
    }
    for rotation, values in expected.items():
        out = runner.run("LatentRotate", {"rotation": rotation}, {"samples": (source, LATENT)})
        assert out["samples"][0, 0].tolist() == values, rotation


def test_latent_flip_mirrors_rows_or_columns(runner):
    source = {"samples": torch.tensor([[0., 1., 2.], [3., 4., 5.]]).reshape(1, 1, 2, 3), "batch_index": [7]}
    out = runner.run("LatentFlip", {"flip_method": "x-axis: vertically"}, {"samples": (source, LATENT)})
    assert out["samples"][0, 0].tolist() == [[3., 4., 5.], [0., 1., 2.]] and out["batch_index"] == [7]
    out = runner.run("LatentFlip", {"flip_method": "y-axis: horizontally"}, {"samples": (source, LATENT)})
    assert out["samples"][0, 0].tolist() == [[2., 1., 0.], [5., 4., 3.]]


def test_latent_crop_cuts_whole_cells_and_keeps_64_pixels(runner):
    source = {"samples": numbered(1, 1, 10, 12)}  # 96 x 80 pixels; value = row * 12 + column
    out = runner.run("LatentCrop", {"width": 64, "height": 64, "x": 16, "y": 8}, {"samples": (source, LATENT)})
    assert out["samples"].shape == (1, 1, 8, 8)
    assert out["samples"][0, 0, 0, 0] == 1 * 12 + 2  # row 1, column 2
    # x 80 px = column 10 would leave 2 columns: moved back to column 12 - 8 = 4; y 72 px likewise to row 2
    out = runner.run("LatentCrop", {"width": 128, "height": 72, "x": 80, "y": 72}, {"samples": (source, LATENT)})
    assert out["samples"].shape == (1, 1, 8, 8)  # 9 rows asked, 8 left from row 2; 16 columns asked, 8 left
    assert out["samples"][0, 0, 0, 0] == 2 * 12 + 4 and out["samples"][0, 0, -1, -1] == 9 * 12 + 11


def test_latent_composite_pastes_at_cells_and_crops_what_overflows(runner):
    target = {"samples": torch.zeros(1, 1, 6, 6), "batch_index": [2]}
    source = {"samples": torch.ones(1, 1, 4, 4) * 7}
    out = runner.run("LatentComposite", {"x": 32, "y": 15, "feather": 0},
                     {"samples_to": (target, LATENT), "samples_from": (source, LATENT)})
    expected = torch.zeros(6, 6)
    expected[1:5, 4:6] = 7  # y 15 px is row 1; x 32 px is column 4, and only 2 columns fit
    assert torch.equal(out["samples"][0, 0], expected)
    assert out["batch_index"] == [2] and torch.count_nonzero(target["samples"]) == 0


def test_latent_composite_feather_ramps_only_inner_edges(runner):
    target = {"samples": torch.full((1, 1, 6, 6), 2.0)}
    source = {"samples": torch.ones(1, 1, 3, 3)}
    # inside on all sides, feather 2 cells: each side's edge row weighs 1/2, the next 2/2
    out = runner.run("LatentComposite", {"x": 8, "y": 8, "feather": 16},
                     {"samples_to": (target, LATENT), "samples_from": (source, LATENT)})
    weights = torch.tensor([[.25, .5, .25], [.5, 1., .5], [.25, .5, .25]])
    expected = torch.full((6, 6), 2.0)
    expected[1:4, 1:4] = weights * 1 + (1 - weights) * 2
    torch.testing.assert_close(out["samples"][0, 0], expected)
    # at the top left corner no ramp on the top and left sides
    out = runner.run("LatentComposite", {"x": 0, "y": 0, "feather": 16},
                     {"samples_to": (target, LATENT), "samples_from": (source, LATENT)})
    weights = torch.tensor([[1., 1., .5], [1., 1., .5], [.5, .5, .25]])
    expected = torch.full((6, 6), 2.0)
    expected[0:3, 0:3] = weights * 1 + (1 - weights) * 2
    torch.testing.assert_close(out["samples"][0, 0], expected)


def test_latent_composite_one_source_onto_a_batch_and_outside_corner(runner):
    target = {"samples": torch.zeros(2, 4, 4, 4)}
    source = {"samples": torch.ones(1, 4, 2, 2)}
    out = runner.run("LatentComposite", {"x": 0, "y": 0, "feather": 0},
                     {"samples_to": (target, LATENT), "samples_from": (source, LATENT)})
    assert out["samples"][:, :, :2, :2].eq(1).all() and out["samples"].sum() == 2 * 4 * 4
    out = runner.run("LatentComposite", {"x": 64, "y": 0, "feather": 0},
                     {"samples_to": (target, LATENT), "samples_from": (source, LATENT)})
    assert torch.equal(out["samples"], target["samples"])  # the corner is past the right edge: nothing pasted


def test_latent_composite_refuses_latents_of_another_model(runner):
    result = runner.run_result("LatentComposite", {"x": 0, "y": 0, "feather": 0},
                               {"samples_to": ({"samples": torch.zeros(1, 4, 4, 4)}, LATENT),
                                "samples_from": ({"samples": torch.zeros(1, 16, 4, 4)}, LATENT)})
    assert not result.ok and "same number of channels" in result.error.exception_message


def test_latent_blend_mixes_by_factor(runner):
    first, second = torch.full((1, 4, 2, 2), 10.0), torch.full((1, 4, 2, 2), 20.0)
    out = runner.run("LatentBlend", {"blend_factor": 0.25}, {"samples1": ({"samples": first, "batch_index": [4]},
                                                                          LATENT),
                                                             "samples2": ({"samples": second}, LATENT)})
    torch.testing.assert_close(out["samples"], torch.full((1, 4, 2, 2), 0.25 * 10 + 0.75 * 20))
    assert out["batch_index"] == [4]


def test_latent_blend_resizes_the_second_with_a_center_crop(runner):
    generator = torch.Generator().manual_seed(0)
    first = torch.randn(1, 4, 4, 4, generator=generator)
    second = torch.randn(1, 4, 2, 4, generator=generator)  # twice as wide: the middle half is kept
    out = runner.run("LatentBlend", {"blend_factor": 0.5}, {"samples1": ({"samples": first}, LATENT),
                                                            "samples2": ({"samples": second}, LATENT)})
    fitted = F.interpolate(second[:, :, :, 1:3], size=(4, 4), mode="bicubic")
    torch.testing.assert_close(out["samples"], 0.5 * first + 0.5 * fitted)


def test_latent_blend_one_latent_against_a_batch(runner):
    out = runner.run("LatentBlend", {"blend_factor": 0.5},
                     {"samples1": ({"samples": torch.zeros(1, 4, 2, 2)}, LATENT),
                      "samples2": ({"samples": per_item([2, 4])}, LATENT)})
    assert items(out["samples"]) == [1, 2]
