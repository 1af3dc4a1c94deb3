"""The workflows shipped in workflows/ (editor format) run on the demo model, and the SDXL one on the tiny SDXL
checkpoint (sizes and steps shrunk to keep the test fast). The base folder holds only what a fresh clone gets from
the run script: `latentloom demo-model` writes the demo checkpoint and input/example.png, the picture that
img2img.json and inpaint.json read."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.fixtures.example_workflows import example_prompt

LORA = "your_lora.safetensors"
REPO = Path(__file__).resolve().parents[3]


def first_run(base: Path) -> subprocess.CompletedProcess:
    """What scripts/run.sh runs in a fresh clone before serving (umask 022, as most accounts have)."""
    environment = {k: v for k, v in os.environ.items() if k != "LATENTLOOM_CUSTOM_NODES"}
    return subprocess.run([sys.executable, "-m", "latentloom", "demo-model", "--base-dir", str(base)], cwd=REPO,
                          env=environment, capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: os.umask(0o022))


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory):
    from latentloom.startup import Options, build_engine

    base = tmp_path_factory.mktemp("bundled")
    done = first_run(base)
    assert done.returncode == 0, done.stderr
    assert "example.png written" in done.stdout
    from tests.fixtures.tiny_checkpoints import write_kohya_lora

    write_kohya_lora(base / "models" / "loras" / LORA)  # lora.json names a file of the user's own
    engine, _ = build_engine(Options(base_dir=base, disable_custom_nodes=True))
    return base, engine


def shrunk(name: str) -> dict:
    """The workflow with small latents and few steps; a loaded picture is scaled down to 64x64 on its way to the
    encoder (the picture itself is the one the first run wrote)."""
    prompt = example_prompt(name)
    for node_id, node in list(prompt.items()):
        inputs = node["inputs"]
        if node["class_type"] == "EmptyLatentImage":
            inputs.update(width=64, height=64)
        if node["class_type"] == "KSampler":
            inputs["steps"] = 3
        if node["class_type"] == "LoadImage":
            scaled = f"{node_id}_small"
            for other in prompt.values():
                other["inputs"].update({key: [scaled, 0] for key, value in other["inputs"].items()
                                        if value == [node_id, 0]})
            prompt[scaled] = {"class_type": "ImageScale", "inputs": {
                "image": [node_id, 0], "upscale_method": "area", "width": 64, "height": 64, "crop": "disabled"}}
    return prompt


@pytest.mark.parametrize("name, size", [("text_to_image.json", (64, 64)), ("hires_fix.json", (96, 96)),
                                        ("img2img.json", (64, 64)), ("inpaint.json", (64, 64)),
                                        ("lora.json", (64, 64))])
def test_bundled_workflow_runs_on_the_demo_model(demo_engine, name, size):
    base, engine = demo_engine
    result = engine.run(shrunk(name))
    assert result.status == "success", result.error
    saved = [image for output in result.outputs.values() for image in output.get("images", [])]
    assert len(saved) == 1
    with Image.open(base / "output" / saved[0]["filename"]) as image:
        assert image.size == size


def test_the_sdxl_base_workflow_runs_on_an_sdxl_checkpoint(demo_engine):
    from tests.fixtures.tiny_checkpoints import FULL_VOCABULARY, build_sdxl

    base, engine = demo_engine
    target = build_sdxl(base / "models" / "checkpoints" / "sdxl", vocab_size=FULL_VOCABULARY).path  # the prompt's words
    prompt = shrunk("sdxl_base.json")
    (loader,) = [node for node in prompt.values() if node["class_type"] == "CheckpointLoaderSimple"]
    assert loader["inputs"]["ckpt_name"] == "sd_xl_base_1.0.safetensors"  # what users download
    loader["inputs"]["ckpt_name"] = f"sdxl/{target.name}"
    result = engine.run(prompt)
    assert result.status == "success", result.error
    saved = [image for output in result.outputs.values() for image in output.get("images", [])]
    assert len(saved) == 1 and (base / "output" / saved[0]["filename"]).stat().st_size > 0


def test_the_first_run_writes_the_example_picture_once_and_readable(demo_engine, tmp_path):
    """demo-model writes input/example.png (0644 under umask 022, like the checkpoint) and leaves it alone once it
    is there; the run script's own step for a base that already has a checkpoint writes the same picture."""
    from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME

    base, _ = demo_engine
    picture = base / "input" / "example.png"
    for written in (picture, base / "models" / "checkpoints" / DEMO_CHECKPOINT_NAME):
        assert os.stat(written).st_mode & 0o777 == 0o644
    with Image.open(picture) as opened:
        assert opened.mode == "RGBA" and opened.size == (512, 512)
        alpha = np.array(opened)[..., 3]
    assert 0.05 < (alpha == 0).mean() < 0.25  # a patch for inpainting to repaint, the rest opaque
    assert set(np.unique(alpha)) == {0, 255}

    again = first_run(base)
    assert again.returncode == 0 and "example.png" not in again.stdout  # idempotent: nothing rewritten

    done = subprocess.run([sys.executable, "-m", "latentloom.example_image", str(tmp_path / "input")], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "input" / "example.png").read_bytes() == picture.read_bytes()
