"""GLIGEN through the nodes and the sampler: GLIGENTextBoxApply's conditioning entries, and ComfyUI's
gligen_textbox_example.json template on the tiny SD1 with a tiny GLIGEN file in the real layout."""
from __future__ import annotations

import json

import pytest
import torch

from graph_engine import InvalidNodeInput, ui_to_api, using_folders
from nodes.gligen.gligen_nodes import GLIGENLoader, GLIGENTextBoxApply
from tests.fixtures.tiny_gligen import write_tiny_gligen
from tests.nodes.pipeline.test_workflow_templates import TEMPLATES, shrunk

GLIGEN = "tiny_gligen.safetensors"
GATES_SHUT = "tiny_gligen_alpha0.safetensors"  # every fuser's tanh(alpha) is 0: a GLIGEN that changes nothing


@pytest.fixture(scope="module")
def gligen_studio(studio):
    folder = studio.base / "models" / "gligen"
    tiny = studio.tiny["sd1"]
    width = tiny.text_encoders[0].config.hidden_size
    write_tiny_gligen(folder / GLIGEN, tiny.ldm_state_dict, width, alpha=0.8)
    write_tiny_gligen(folder / GATES_SHUT, tiny.ldm_state_dict, width, alpha=0.0)
    return studio


def test_text_box_adds_the_phrase_and_box_in_latent_pixels(gligen_studio, studio_folders):
    _, clip, _ = gligen_studio.load("sd1")
    (gligen,) = GLIGENLoader().load_gligen(GLIGEN)
    base = clip.encode("a landscape")
    (once,) = GLIGENTextBoxApply().append(base, clip, gligen, "a bottle", width=24, height=32, x=8, y=16)
    (twice,) = GLIGENTextBoxApply().append(once, clip, gligen, "the sun", width=16, height=16, x=40, y=0)
    kind, model, boxes = twice[0][1]["gligen"]
    assert (kind, model) == ("position", gligen) and [box[1:] for box in boxes] == [(4, 3, 2, 1), (2, 2, 0, 5)]
    assert torch.equal(boxes[0][0], clip.encode("a bottle")[0][1]["pooled_output"])
    assert torch.equal(twice[0][0], base[0][0]) and "gligen" not in base[0][1] and len(once[0][1]["gligen"][2]) == 1


def test_text_box_refuses_another_models_clip_and_a_wrong_model(gligen_studio, studio_folders):
    _, sdxl_clip, _ = gligen_studio.load("sdxl")
    (gligen,) = GLIGENLoader().load_gligen(GLIGEN)
    with pytest.raises(InvalidNodeInput, match=r"clip gives a 32-wide pooled text embedding but tiny_gligen"
                                               r"\.safetensors reads 64-wide phrases"):
        GLIGENTextBoxApply().append(sdxl_clip.encode("x"), sdxl_clip, gligen, "a bottle", 64, 64, 0, 0)
    with pytest.raises(InvalidNodeInput, match="must come from Load GLIGEN Model"):
        GLIGENTextBoxApply().append(sdxl_clip.encode("x"), sdxl_clip, "gligen.safetensors", "a", 64, 64, 0, 0)


def template(studio, gligen_name: str) -> dict:
    workflow = json.loads((TEMPLATES / "gligen_textbox_example.json").read_text(encoding="utf-8"))
    prompt = shrunk(ui_to_api(workflow, studio.engine.registry), studio.tiny["sd1"].path.name)
    prompt["10"]["inputs"]["gligen_name"] = gligen_name
    prompt["21"]["inputs"].update(width=24, height=32, x=16, y=24)  # the template's boxes, in a 64 px image
    prompt["27"]["inputs"].update(width=16, height=16, x=40, y=0)
    prompt["probe"] = {"class_type": "SaveLatent", "inputs": {"samples": ["3", 0], "filename_prefix": "gligen/probe"}}
    return prompt


def sampled(studio, prompt: dict) -> torch.Tensor:
    from safetensors.torch import load_file

    result = studio.engine.run(prompt)
    assert result.status == "success", result.error
    assert [image["filename"].endswith(".png") for image in result.outputs["9"]["images"]] == [True]
    (saved,) = result.outputs["probe"]["latents"]
    return load_file(str(studio.engine.folders.output / saved["subfolder"] / saved["filename"]))["latent_tensor"]


def without_gligen(prompt: dict) -> dict:
    """The template with its two text boxes taken out: the sampler gets the prompt's own conditioning."""
    plain = json.loads(json.dumps(prompt))
    for key in ("27", "21", "10"):
        plain.pop(key)
    plain["3"]["inputs"]["positive"] = ["24", 0]
    return plain


def test_gligen_template_runs_and_its_boxes_change_the_image(gligen_studio):
    prompt = template(gligen_studio, GLIGEN)
    grounded, plain = sampled(gligen_studio, prompt), sampled(gligen_studio, without_gligen(prompt))
    assert grounded.shape == plain.shape == (1, 4, 8, 8)
    assert (grounded - plain).abs().max() > 0.01
    moved = template(gligen_studio, GLIGEN)
    moved["27"]["inputs"].update(x=0, y=40)  # the same phrase elsewhere
    assert (sampled(gligen_studio, moved) - grounded).abs().max() > 0.01


def test_gligen_with_its_gates_shut_samples_exactly_as_without(gligen_studio):
    prompt = template(gligen_studio, GATES_SHUT)
    assert torch.allclose(sampled(gligen_studio, prompt), sampled(gligen_studio, without_gligen(prompt)), atol=1e-4)
