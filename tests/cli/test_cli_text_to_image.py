"""The main job on a fresh folder: `demo-model` then the default workflow, through the real command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "workflows" / "text_to_image.json"


def latentloom(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LATENTLOOM_CUSTOM_NODES"}
    return subprocess.run([sys.executable, "-m", "latentloom", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_demo_model_then_default_workflow_writes_an_image(tmp_path):
    made = latentloom("demo-model", "--base-dir", tmp_path, cwd=REPO)
    assert made.returncode == 0, made.stderr
    assert "random weights" in made.stdout and "noise" in made.stdout
    checkpoint = tmp_path / "models" / "checkpoints" / "latentloom-demo-sd1-random-weights.safetensors"
    assert checkpoint.is_file()

    ran = latentloom("run", WORKFLOW, "--base-dir", tmp_path, "--set", "5.width=128", "--set", "5.height=128",
                     "--set", "3.steps=3", "--json", cwd=REPO)
    assert ran.returncode == 0, ran.stderr
    image = json.loads(ran.stdout)["9"]["images"][0]
    assert (tmp_path / "output" / image["filename"]).stat().st_size > 0
    assert "loaded latentloom-demo-sd1-random-weights.safetensors: SD1.x" in ran.stderr


def test_a_missing_checkpoint_is_named_with_the_choices(tmp_path):
    from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME, write_demo_checkpoint

    write_demo_checkpoint(tmp_path / "models" / "checkpoints" / DEMO_CHECKPOINT_NAME)  # `demo-model`, tested above
    ran = latentloom("run", WORKFLOW, "--base-dir", tmp_path, "--set", "4.ckpt_name=v1-5-pruned.safetensors",
                     cwd=REPO)
    assert ran.returncode == 2
    assert "v1-5-pruned.safetensors" in ran.stderr and "latentloom-demo-sd1-random-weights" in ran.stderr
