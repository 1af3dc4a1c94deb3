"""ComfyUI's ControlNet and T2I-Adapter templates (comfyui-workflow-templates) convert and run on tiny models."""
from __future__ import annotations

import json

import pytest

from graph_engine import ui_to_api
from tests.nodes.pipeline.test_controlnet_pipeline import controls  # noqa: F401 (the tiny control files)
from tests.nodes.pipeline.test_workflow_templates import TEMPLATES, shrunk, template_studio  # noqa: F401

# template -> (tiny checkpoint, the ControlNet file for each ControlNetLoader in the template's order)
CONTROL_TEMPLATES = {"controlnet_example.json": ("sd1", ["tiny_cn.safetensors"]),
                     "depth_controlnet.json": ("sd1", ["tiny_cn.safetensors"]),
                     "mixing_controlnets.json": ("sd1", ["tiny_cn.safetensors", "tiny_cn_2.safetensors"]),
                     "depth_t2i_adapter.json": ("sd1_blocks", ["tiny_adapter.safetensors"])}


@pytest.mark.parametrize("template", sorted(CONTROL_TEMPLATES))
def test_control_template_converts_and_runs_on_tiny_models(template_studio, controls, template):  # noqa: F811
    studio = template_studio
    checkpoint, files = CONTROL_TEMPLATES[template]
    workflow = json.loads((TEMPLATES / template).read_text(encoding="utf-8"))
    prompt = shrunk(ui_to_api(workflow, studio.engine.registry), studio.tiny[checkpoint].path.name)
    loaders = sorted((node_id for node_id, node in prompt.items() if node["class_type"] == "ControlNetLoader"),
                     key=int)
    assert len(loaders) == len(files)
    for node_id, name in zip(loaders, files):
        prompt[node_id]["inputs"]["control_net_name"] = name
    applied = [node for node in prompt.values() if node["class_type"] == "ControlNetApplyAdvanced"]
    assert applied and all(node["inputs"]["strength"] == 1 for node in applied)
    result = studio.engine.run(prompt)
    assert result.status == "success", result.error
    saved = [image for output in result.outputs.values() for image in output.get("images", [])]
    assert saved and all(image["filename"].endswith(".png") for image in saved)
