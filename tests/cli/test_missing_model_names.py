"""`latentloom run` with a model file name that is not installed: exit 2 and one line that says which folder the
file belongs in, the closest installed names, and, when the folder is empty, how to install one."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEXT_TO_IMAGE = REPO / "workflows" / "text_to_image.json"
LORA = REPO / "workflows" / "lora.json"


def run(base: Path, workflow: Path, *sets: str) -> tuple[int, list[str]]:
    """Exit status and the error lines of `latentloom run` in `base` (validation only: nothing is loaded)."""
    environment = {k: v for k, v in os.environ.items() if k != "LATENTLOOM_CUSTOM_NODES"}
    arguments = [a for value in sets for a in ("--set", value)]
    done = subprocess.run([sys.executable, "-m", "latentloom", "run", str(workflow), "--base-dir", str(base),
                           "--disable-custom-nodes", *arguments],
                          cwd=base, env=environment, capture_output=True, text=True, timeout=120)
    return done.returncode, [line for line in done.stderr.splitlines() if "Value not in list" in line]


def test_a_checkpoint_with_an_empty_folder_says_how_to_install_one(tmp_path):
    status, lines = run(tmp_path, TEXT_TO_IMAGE)
    assert status == 2
    (line,) = lines
    assert "'ckpt_name'" in line and "latentloom-demo-sd1-random-weights.safetensors" in line
    assert f"{tmp_path / 'models' / 'checkpoints'} holds no checkpoint yet" in line
    assert "latentloom models install" in line and "latentloom demo-model" in line


def test_a_checkpoint_name_from_another_machine_names_the_close_installed_ones(tmp_path):
    installed = tmp_path / "models" / "checkpoints" / "sd15" / "dreamshaper_8.safetensors"
    installed.parent.mkdir(parents=True)
    installed.write_bytes(b"not loaded: validation refuses the name first")
    (installed.parent.parent / "realisticVision.safetensors").write_bytes(b"x")
    status, lines = run(tmp_path, TEXT_TO_IMAGE, "4.ckpt_name=dreamshaper_8.safetensors")
    assert status == 2
    (line,) = lines
    assert "Did you mean 'sd15/dreamshaper_8.safetensors'?" in line
    assert f"read from {tmp_path / 'models' / 'checkpoints'}" in line
    assert "models install" not in line  # the folder has files: no install advice


def test_a_lora_names_the_loras_folder(tmp_path):
    (tmp_path / "models" / "checkpoints").mkdir(parents=True)
    (tmp_path / "models" / "checkpoints" / "model.safetensors").write_bytes(b"x")
    status, lines = run(tmp_path, LORA, "4.ckpt_name=model.safetensors")
    assert status == 2
    (line,) = lines
    assert "'lora_name'" in line and f"{tmp_path / 'models' / 'loras'} holds no LoRA yet" in line
    assert "latentloom models install" in line and "demo-model" not in line
