"""BatchImagesNode, BatchMasksNode, BatchLatentsNode and ResizeImageMaskNode through the real engine, with their
inputs under the prompt keys ComfyUI writes for its dynamic inputs ("images.image0", "resize_type.width")."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.nodes.latent.latent_helpers import CAUGHT, IMAGE, LATENT, MASK


def rand(*shape, seed=0) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def bilinear(samples: torch.Tensor, height: int, width: int) -> torch.Tensor:
    return F.interpolate(samples, size=(height, width), mode="bilinear")


# --- Batch*Node ----------------------------------------------------------------------------------------------------

def test_batch_images_in_socket_order(runner):
    first, second, third = rand(1, 4, 6, 3, seed=1), rand(2, 4, 6, 3, seed=2), rand(1, 4, 6, 3, seed=3)
    out = runner.run("BatchImagesNode", {}, {"images.image0": (first, IMAGE), "images.image2": (third, IMAGE),
                                             "images.image1": (second, IMAGE)})
    torch.testing.assert_close(out, torch.cat([first, second, third]))


def test_batch_images_resizes_to_the_first_and_adds_opaque_alpha(runner):
    first, other = rand(1, 4, 4, 4, seed=4), rand(1, 4, 8, 3, seed=5)
    out = runner.run("BatchImagesNode", {}, {"images.image0": (first, IMAGE), "images.image1": (other, IMAGE)})
    assert out.shape == (2, 4, 4, 4)
    torch.testing.assert_close(out[0], first[0])
    # 8x4 to 4x4 centre crop: columns 2..5, then bilinear at the same size (a copy)
    torch.testing.assert_close(out[1, ..., :3], other[0, :, 2:6, :])
    torch.testing.assert_close(out[1, ..., 3], torch.ones((4, 4)))


def test_batch_masks_resizes_to_the_first(runner):
    first, other = rand(2, 4, 4, seed=6), rand(1, 2, 2, seed=7)
    out = runner.run("BatchMasksNode", {}, {"masks.mask0": (first, MASK), "masks.mask1": (other, MASK)})
    assert out.shape == (3, 4, 4)
    torch.testing.assert_close(out[:2], first)
    torch.testing.assert_close(out[2], bilinear(other[:, None], 4, 4)[0, 0])


def test_batch_latents_continue_the_batch_index(runner):
    first = {"samples": rand(2, 4, 3, 3, seed=8), "noise_mask": torch.ones((1, 1, 3, 3))}
    second = {"samples": rand(1, 4, 6, 6, seed=9), "batch_index": [7]}
    out = runner.run("BatchLatentsNode", {}, {"latents.latent0": (first, LATENT), "latents.latent1": (second, LATENT)})
    assert out["batch_index"] == [0, 1, 7] and out["noise_mask"] is first["noise_mask"]
    torch.testing.assert_close(out["samples"][:2], first["samples"])
    torch.testing.assert_close(out["samples"][2:], bilinear(second["samples"], 3, 3))
    assert "batch_index" not in first  # the input latent is not changed


def test_batch_needs_its_first_socket(runner):
    from graph_engine import WorkflowInvalid

    prompt, _ = runner.prompt("BatchImagesNode", {}, {"images.image1": (rand(1, 2, 2, 3), IMAGE)})
    with pytest.raises(WorkflowInvalid) as info:
        runner.engine.run(prompt)
    errors = info.value.report.node_errors["n"].errors
    assert [(e.type, e.input_name) for e in errors] == [("required_input_missing", "images.image0")]


def test_latents_of_different_channel_counts_are_refused(runner):
    result = runner.run_result("BatchLatentsNode", {}, {
        "latents.latent0": ({"samples": rand(1, 4, 2, 2)}, LATENT),
        "latents.latent1": ({"samples": rand(1, 16, 2, 2)}, LATENT)})
    assert not result.ok and result.user_facing_error and "cannot be fitted" in result.error.exception_message


# --- ResizeImageMaskNode -------------------------------------------------------------------------------------------

def resize_node(runner, value, slot, resize_type, method="bilinear", **options):
    inputs = {"resize_type": resize_type, "scale_method": method,
              **{f"resize_type.{name}": option for name, option in options.items()}}
    return runner.run("ResizeImageMaskNode", inputs, {"input": (value, slot)})


@pytest.mark.parametrize("resize_type,options,size", [
    ("scale dimensions", {"width": 5, "height": 3, "crop": "disabled"}, (3, 5)),
    ("scale dimensions", {"width": 0, "height": 3, "crop": "center"}, (3, 5)),  # width: round(10 * 3 / 6) = 5
    ("scale by multiplier", {"multiplier": 1.5}, (9, 15)),
    ("scale longer dimension", {"longer_size": 20}, (12, 20)),  # 6 / 10 * 20 = 12
    ("scale shorter dimension", {"shorter_size": 9}, (9, 15)),  # 10 / 6 * 9 = 15
    ("scale width", {"width": 4}, (2, 4)),                      # round(6 * 4 / 10) = round(2.4) = 2
    ("scale height", {"height": 12}, (12, 20)),
    ("scale total pixels", {"megapixels": 0.01}, (79, 132)),  # int(10485.76) px: scale 13.2193 -> 132.19 x 79.32
])
def test_resize_rules_on_an_image(runner, resize_type, options, size):
    img = rand(2, 6, 10, 3, seed=10)
    out = resize_node(runner, img, IMAGE, resize_type, **options)
    expected = bilinear(img.permute(0, 3, 1, 2), *size).permute(0, 2, 3, 1)
    torch.testing.assert_close(out, expected)


def test_scale_dimensions_crops_the_centre(runner):
    img = rand(1, 6, 10, 3, seed=11)
    out = resize_node(runner, img, IMAGE, "scale dimensions", width=6, height=6, crop="center")
    # 10x6 to a square: x = round((10 - 6) / 2) = 2, keep columns 2..7
    torch.testing.assert_close(out, bilinear(img[:, :, 2:8].permute(0, 3, 1, 2), 6, 6).permute(0, 2, 3, 1))


def test_zero_width_and_height_leave_the_input(runner):
    img = rand(1, 6, 10, 3, seed=12)
    # lanczos goes through 8 bits, so an unchanged tensor shows that nothing was resized
    assert torch.equal(resize_node(runner, img, IMAGE, "scale dimensions", "lanczos", width=0, height=0,
                                   crop="center"), img)


def test_resize_a_mask_to_match_an_image(runner):
    mask, reference = rand(2, 4, 4, seed=13), rand(1, 6, 10, 3, seed=14)
    inputs = {"resize_type": "match size", "scale_method": "nearest-exact", "resize_type.crop": "disabled"}
    out = runner.run("ResizeImageMaskNode", inputs, {"input": (mask, MASK), "resize_type.match": (reference, IMAGE)})
    torch.testing.assert_close(out, F.interpolate(mask[:, None], size=(6, 10), mode="nearest-exact")[:, 0])


def test_scale_to_multiple_covers_then_crops(runner):
    # 13x10 to multiples of 4: target 12x8; scales 12/13 = 0.923 and 8/10 = 0.8 -> keep the width's:
    # 12 x ceil(10 * 12 / 13) = 12 x 10, then rows 1..8 (top = (10 - 8) // 2 = 1)
    img = rand(1, 10, 13, 3, seed=15)
    out = resize_node(runner, img, IMAGE, "scale to multiple", multiple=4)
    expected = bilinear(img.permute(0, 3, 1, 2), 10, 12)[:, :, 1:9].permute(0, 2, 3, 1)
    torch.testing.assert_close(out, expected)


def test_the_chosen_options_inputs_are_required_and_checked(runner):
    from graph_engine import WorkflowInvalid

    prompt, _ = runner.prompt("ResizeImageMaskNode", {"resize_type": "scale dimensions", "scale_method": "area",
                                                      "resize_type.width": 20000, "resize_type.multiple": 8},
                              {"input": (rand(1, 4, 4, 3), IMAGE)})
    with pytest.raises(WorkflowInvalid) as info:
        runner.engine.run(prompt)
    errors = info.value.report.node_errors["n"].errors
    assert [(e.type, e.input_name) for e in errors] == [
        ("value_bigger_than_max", "resize_type.width"), ("required_input_missing", "resize_type.height"),
        ("required_input_missing", "resize_type.crop")]


def test_the_input_must_be_an_image_or_a_mask(runner):
    from graph_engine import WorkflowInvalid

    prompt, _ = runner.prompt("ResizeImageMaskNode", {"resize_type": "scale by multiplier", "scale_method": "area",
                                                      "resize_type.multiplier": 2.0},
                              {"input": ({"samples": rand(1, 4, 2, 2)}, LATENT)})
    with pytest.raises(WorkflowInvalid) as info:
        runner.engine.run(prompt)
    errors = info.value.report.node_errors["n"].errors
    assert [(e.type, e.input_name) for e in errors] == [("return_type_mismatch", "input")]


def test_resized_output_feeds_what_takes_the_input_type(runner):
    """The output's type is the input's (a MASK here): it links into a MASK input downstream."""
    mask = rand(1, 4, 6, seed=17)
    prompt, key = runner.prompt("ResizeImageMaskNode", {"resize_type": "scale by multiplier",
                                                        "scale_method": "nearest-exact",
                                                        "resize_type.multiplier": 2.0}, {"input": (mask, MASK)})
    prompt["invert"] = {"class_type": "InvertMask", "inputs": {"mask": ["n", 0]}}
    prompt["out"]["inputs"]["value"] = ["invert", 0]
    result = runner.engine.run(prompt)
    assert result.ok, result.error
    expected = 1 - F.interpolate(mask[:, None], size=(8, 12), mode="nearest-exact")[:, 0]
    torch.testing.assert_close(CAUGHT.pop(key), expected)


def test_a_size_of_nothing_is_a_clear_error(runner):
    result = runner.run_result("ResizeImageMaskNode", {"resize_type": "scale by multiplier", "scale_method": "area",
                                                       "resize_type.multiplier": 0.01},
                               {"input": (rand(1, 6, 10, 3), IMAGE)})
    assert not result.ok and result.user_facing_error and "0x0" in result.error.exception_message


def test_editor_file_lists_the_resize_type_then_its_options_widgets_then_the_rest(runner):
    """ComfyUI's editor saves [resize_type, the chosen option's widgets..., scale_method]; sockets by prompt key."""
    from graph_engine.ui_format import ui_to_api

    editor = {"nodes": [
        {"id": 1, "type": "ResizeImageMaskNode", "mode": 0, "widgets_values": ["scale dimensions", 64, 32, "disabled",
                                                                               "bilinear"],
         "inputs": [{"name": "input", "type": "IMAGE", "link": None}]},
        {"id": 2, "type": "ResizeImageMaskNode", "mode": 0, "widgets_values": ["match size", "center", "area"],
         "inputs": [{"name": "input", "type": "IMAGE", "link": None},
                    {"name": "resize_type.match", "type": "IMAGE,MASK", "link": 5}]},
        {"id": 3, "type": "ColorTransfer", "mode": 0, "widgets_values": ["mkl_lab", "target_frame", 2, 0.5],
         "inputs": []},
        {"id": 4, "type": "EmptyImage", "mode": 0, "widgets_values": [8, 8, 1, 0]}],
        "links": [[5, 4, 0, 2, 1, "IMAGE"]]}
    prompt = ui_to_api(editor, runner.engine.registry)
    assert prompt["1"]["inputs"] == {"resize_type": "scale dimensions", "resize_type.width": 64,
                                     "resize_type.height": 32, "resize_type.crop": "disabled",
                                     "scale_method": "bilinear"}
    assert prompt["2"]["inputs"] == {"resize_type": "match size", "resize_type.crop": "center", "scale_method": "area",
                                     "resize_type.match": ["4", 0]}
    assert prompt["3"]["inputs"] == {"method": "mkl_lab", "source_stats": "target_frame",
                                     "source_stats.target_index": 2, "strength": 0.5}
