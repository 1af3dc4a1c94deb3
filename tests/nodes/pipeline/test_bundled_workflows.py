"""The workflows shipped in workflows/ (editor format) run on the demo model, and the SDXL one on the tiny SDXL
checkpoint (sizes and steps shrunk to keep the test fast)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.fixtures.example_workflows import example_prompt

LORA = "your_lora.safetensors"


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory):
    from latentloom.startup import Options, build_engine
    from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME, write_demo_checkpoint

    base = tmp_path_factory.mktemp("bundled")
    write_demo_checkpoint(base / "models" / "checkpoints" / DEMO_CHECKPOINT_NAME)
    pixels = np.full((72, 80, 4), 255, dtype=np.uint8)
    pixels[..., :3] = np.random.default_rng(0).integers(0, 255, (72, 80, 3))
    pixels[20:44, 24:56, 3] = 0  # a transparent hole for the inpainting workflow
    (base / "input").mkdir()
    Image.fromarray(pixels, "RGBA").save(base / "input" / "example.png")
    from tests.fixtures.tiny_checkpoints import write_kohya_lora

    write_kohya_lora(base / "models" / "loras" / LORA)
    engine, _ = build_engine(Options(base_dir=base, disable_custom_nodes=True))
    return base, engine


def shrunk(name: str) -> dict:
    prompt = example_prompt(name)
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "EmptyLatentImage":
            inputs.update(width=64, height=64)
        if node["class_type"] == "KSampler":
            inputs["steps"] = 3
    return prompt


@pytest.mark.parametrize("name, size", [("text_to_image.json", (64, 64)), ("hires_fix.json", (96, 96)),
                                        ("img2img.json", (80, 72)), ("inpaint.json", (80, 72)),
                                        ("lora.json", (64, 64))])
def test_bundled_workflow_runs_on_the_demo_model(demo_engine, name, size):
    from nodes.images import set_input_folder
    from nodes.runtime.model_folders import set_models_folder

    base, engine = demo_engine
    set_models_folder(base / "models")  # validation lists the choices outside the run
    set_input_folder(base / "input")
    result = engine.run(shrunk(name))
    assert result.status == "success", result.error
    saved = [image for output in result.outputs.values() for image in output.get("images", [])]
    assert len(saved) == 1
    with Image.open(base / "output" / saved[0]["filename"]) as image:
        assert image.size == size


def test_the_sdxl_base_workflow_runs_on_an_sdxl_checkpoint(demo_engine):
    from nodes.runtime.model_folders import set_models_folder
    from tests.fixtures.tiny_checkpoints import FULL_VOCABULARY, build_sdxl

    base, engine = demo_engine
    target = build_sdxl(base / "models" / "checkpoints" / "sdxl", vocab_size=FULL_VOCABULARY).path  # the prompt's words
    set_models_folder(base / "models")
    prompt = shrunk("sdxl_base.json")
    (loader,) = [node for node in prompt.values() if node["class_type"] == "CheckpointLoaderSimple"]
    assert loader["inputs"]["ckpt_name"] == "sd_xl_base_1.0.safetensors"  # what users download
    loader["inputs"]["ckpt_name"] = f"sdxl/{target.name}"
    result = engine.run(prompt)
    assert result.status == "success", result.error
    saved = [image for output in result.outputs.values() for image in output.get("images", [])]
    assert len(saved) == 1 and (base / "output" / saved[0]["filename"]).stat().st_size > 0
