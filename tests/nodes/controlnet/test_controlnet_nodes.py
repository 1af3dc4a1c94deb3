"""The ControlNet nodes: the loaders list models/controlnet and models/t2i_adapter and load through the engine; the
apply nodes put copies of the control on each conditioning entry as ComfyUI does (shared between the positive and
negative entries that had the same control, chained to that control)."""
from __future__ import annotations

import pytest
import torch

from graph_engine import InvalidNodeInput, using_folders
from nodes.controlnet.controlnet_extras import ControlNetInpaintingAliMamaApply, SetUnionControlNetType
from nodes.controlnet.controlnet_nodes import ControlNetApply, ControlNetApplyAdvanced
from nodes.runtime.controlnet import ControlNet, T2IAdapter, load_control_model
from tests.fixtures.tiny_checkpoints import sd1_unet
from tests.fixtures.tiny_controlnets import tiny_adapter, tiny_controlnet, write_adapter, write_controlnet
from tests.nodes.latent.latent_helpers import CAUGHT, Runner, make_engine


@pytest.fixture(scope="module")
def control(tmp_path_factory):
    path = tmp_path_factory.mktemp("cn") / "cn.safetensors"
    return load_control_model(write_controlnet(path, tiny_controlnet(sd1_unet())).path)


def conditioning(*names: str) -> list:
    return [[torch.full((1, 2, 64), float(i)), {"name": name}] for i, name in enumerate(names)]


def test_loader_lists_both_folders_and_loads_through_the_engine(tmp_path):
    runner = Runner(make_engine(tmp_path))
    write_controlnet(tmp_path / "models" / "controlnet" / "sub" / "cn.safetensors", tiny_controlnet(sd1_unet()))
    write_adapter(tmp_path / "models" / "t2i_adapter" / "depth.safetensors", tiny_adapter("light_adapter"))
    with using_folders(runner.engine.folders):
        info = runner.engine.registry.object_info()
    assert info["ControlNetLoader"]["input"]["required"]["control_net_name"][0] == ["depth.safetensors",
                                                                                    "sub/cn.safetensors"]
    prompt, key = runner.prompt("ControlNetLoader", {"control_net_name": "depth.safetensors"})
    result = runner.engine.run(prompt)
    assert result.ok, result.error
    assert isinstance(CAUGHT.pop(key), T2IAdapter)
    prompt, key = runner.prompt("ControlNetLoader", {"control_net_name": "sub/cn.safetensors"})
    assert runner.engine.run(prompt).ok and isinstance(CAUGHT.pop(key), ControlNet)


def test_apply_advanced_shares_one_new_control_per_previous_control(control):
    image = torch.rand(1, 16, 16, 3)
    positive, negative = conditioning("a", "b"), conditioning("n")
    first_pos, first_neg = ControlNetApplyAdvanced().apply_controlnet(positive, negative, control, image, 0.7, 0.1,
                                                                       0.9)
    made = first_pos[0][1]["control"]
    assert made is not control and made.control_model is control.control_model
    assert all(entry[1]["control"] is made for entry in (*first_pos, *first_neg))  # one object: batched together
    assert (made.strength, made.timestep_percent_range, made.previous_controlnet) == (0.7, (0.1, 0.9), None)
    torch.testing.assert_close(made.cond_hint_original, image.movedim(-1, 1))
    assert first_pos[0][1]["name"] == "a" and first_pos[0][1]["control_apply_to_uncond"] is False
    assert "control" not in positive[0][1]  # the inputs are left as they were
    # a second ControlNet chains onto the first on every entry
    second_pos, second_neg = ControlNetApplyAdvanced().apply_controlnet(first_pos, first_neg, control, image, 1.0,
                                                                         0.0, 1.0)
    chained = second_pos[0][1]["control"]
    assert chained.previous_controlnet is made and second_neg[0][1]["control"] is chained
    # entries with different controls get different new ones
    mixed_pos, _ = ControlNetApplyAdvanced().apply_controlnet([first_pos[0], positive[1]], negative, control, image,
                                                              1.0, 0.0, 1.0)
    assert mixed_pos[0][1]["control"].previous_controlnet is made
    assert mixed_pos[1][1]["control"].previous_controlnet is None


def test_strength_zero_returns_the_conditioning_untouched(control):
    positive, negative = conditioning("a"), conditioning("n")
    image = torch.rand(1, 8, 8, 3)
    assert ControlNetApplyAdvanced().apply_controlnet(positive, negative, control, image, 0.0, 0.0, 1.0) == (
        positive, negative)
    assert ControlNetApply().apply_controlnet(positive, control, image, 0.0) == (positive,)


def test_deprecated_apply_marks_the_control_for_the_negative_too(control):
    image = torch.rand(2, 8, 8, 3)
    (applied,) = ControlNetApply().apply_controlnet(conditioning("a", "b"), control, image, 0.5)
    first, second = applied[0][1]["control"], applied[1][1]["control"]
    assert first is not second and first.strength == 0.5 and first.timestep_percent_range == (0.0, 1.0)
    assert applied[0][1]["control_apply_to_uncond"] is True
    (again,) = ControlNetApply().apply_controlnet(applied, control, image, 1.0)
    assert again[1][1]["control"].previous_controlnet is second


def test_wrong_inputs_are_named(control):
    with pytest.raises(InvalidNodeInput, match=r"control_net must come from Load ControlNet Model"):
        ControlNetApplyAdvanced().apply_controlnet(conditioning("a"), conditioning("n"), "x", torch.rand(1, 8, 8, 3),
                                                   1.0, 0.0, 1.0)
    with pytest.raises(InvalidNodeInput, match=r"image has 4 channels but cn\.safetensors reads 3"):
        ControlNetApply().apply_controlnet(conditioning("a"), control, torch.rand(1, 8, 8, 4), 1.0)


def test_union_type_is_stored_on_a_copy(control):
    (typed,) = SetUnionControlNetType().set_controlnet_type(control, "canny/lineart/anime_lineart/mlsd")
    assert typed is not control and typed.extra_args == {"control_type": [3]} and control.extra_args == {}
    (auto,) = SetUnionControlNetType().set_controlnet_type(typed, "auto")
    assert auto.extra_args == {"control_type": []}


def test_alimama_apply_is_apply_controlnet_for_controlnets_without_a_mask_input(control):
    image, mask = torch.rand(1, 8, 8, 3), torch.zeros(1, 8, 8)
    mask[:, :4] = 1.0
    positive, negative = ControlNetInpaintingAliMamaApply().apply_inpaint_controlnet(
        conditioning("a"), conditioning("n"), control, None, image, mask, 0.5, 0.0, 1.0)
    made = positive[0][1]["control"]
    torch.testing.assert_close(made.cond_hint_original, image.movedim(-1, 1))
    assert made.extra_concat_orig == [] and made.strength == 0.5 and negative[0][1]["control"] is made


def test_alimama_apply_blacks_out_the_masked_part_for_controlnets_that_read_the_mask(control):
    masked_control = control.copy()
    masked_control.concat_mask = True  # as ComfyUI's inpainting ControlNets (SD3, FLUX) declare
    image, mask = torch.rand(1, 8, 8, 3), torch.zeros(1, 8, 8)
    mask[:, :4] = 1.0
    positive, _ = ControlNetInpaintingAliMamaApply().apply_inpaint_controlnet(
        conditioning("a"), conditioning("n"), masked_control, None, image, mask, 1.0, 0.0, 1.0)
    made = positive[0][1]["control"]
    expected = image.movedim(-1, 1).clone()
    expected[:, :, :4] = 0.0
    torch.testing.assert_close(made.cond_hint_original, expected)
    (kept,) = made.extra_concat_orig
    torch.testing.assert_close(kept, (1.0 - mask).reshape(1, 1, 8, 8))
