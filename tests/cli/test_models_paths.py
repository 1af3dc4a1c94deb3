"""An existing AUTOMATIC1111 install used in place through extra_model_paths.yaml, through the real command line:
`models paths`, the combos of `nodes --json`, a workflow with its checkpoint and LoRA, and malformed yaml files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.fixtures.tiny_checkpoints import FULL_VOCABULARY, build_sd1
from tests.fixtures.example_workflows import with_checkpoint_and_lora

REPO = Path(__file__).resolve().parents[2]
ATTN2_K = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
TEXT_Q = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
A1111_YAML = """\
    a111:
        base_path: {sd}
        checkpoints: models/Stable-diffusion
        loras: |
            models/Lora
            models/LyCORIS
        vae: models/VAE
        embeddings: embeddings
        controlnet: models/ControlNet
        photomaker: models/PhotoMaker
"""


def latentloom(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LATENTLOOM_CUSTOM_NODES"}
    return subprocess.run([sys.executable, "-m", "latentloom", *map(str, args)], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=300)


def write_tiny_sd1_lora(path: Path) -> Path:
    """A kohya LoRA whose layers fit the tiny SD1 checkpoint (cross-attention key and a text-encoder query)."""
    g = torch.Generator().manual_seed(5)
    tensors = {f"{ATTN2_K}.lora_down.weight": torch.randn(2, 64, generator=g),
               f"{ATTN2_K}.lora_up.weight": torch.randn(32, 2, generator=g), f"{ATTN2_K}.alpha": torch.tensor(1.0),
               f"{TEXT_Q}.lora_down.weight": torch.randn(2, 64, generator=g),
               f"{TEXT_Q}.lora_up.weight": torch.randn(64, 2, generator=g)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"ss_network_dim": "2"})
    return path


def offer_and_run(base: Path, ckpt_name: str, lora_name: str) -> subprocess.CompletedProcess:
    """Check that the loaders offer exactly this checkpoint and LoRA, then run the default workflow on them (through
    a LoraLoader) and check that it wrote its image; the run, for its log."""
    listed = latentloom("nodes", "--json", "--base-dir", base, cwd=base)
    assert listed.returncode == 0, listed.stderr
    info = json.loads(listed.stdout)
    assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [ckpt_name]
    assert info["LoraLoader"]["input"]["required"]["lora_name"][0] == [lora_name]
    workflow = base / "with_lora.json"
    workflow.write_text(json.dumps(with_checkpoint_and_lora(ckpt_name, lora_name)))
    ran = latentloom("run", workflow, "--base-dir", base, "--set", "5.width=64", "--set", "5.height=64",
                     "--set", "3.steps=2", "--json", cwd=base)
    assert ran.returncode == 0, ran.stderr
    image = json.loads(ran.stdout)["9"]["images"][0]
    assert (base / "output" / image["filename"]).stat().st_size > 0
    return ran


@pytest.fixture
def install(tmp_path) -> tuple[Path, Path]:
    """(base, sd): an A1111 tree with models/VAE and embeddings/ missing, and a base folder whose yaml points at it."""
    sd = tmp_path / "stable-diffusion-webui"
    build_sd1(sd / "models" / "Stable-diffusion", name="x.safetensors", vocab_size=FULL_VOCABULARY)
    write_tiny_sd1_lora(sd / "models" / "Lora" / "detail.safetensors")
    (sd / "models" / "LyCORIS").mkdir(parents=True)
    base = tmp_path / "base"
    base.mkdir()
    (base / "extra_model_paths.yaml").write_text(textwrap.dedent(A1111_YAML).format(sd=sd))
    return base, sd


def test_models_paths_prints_each_kind_in_order_and_warns_about_missing_folders(install):
    base, sd = install
    done = latentloom("models", "paths", "--base-dir", base, "--loras-dir", base / "more-loras", cwd=base)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line for line in lines if line.endswith(":") and not line.startswith(" ")][:4] == [
        "checkpoints:", "loras:", "vae:", "embeddings:"]  # the kinds in one order everywhere (as GET /models)
    loras = lines[lines.index("loras:") + 1:lines.index("vae:")]
    searched = [line.split()[1] for line in loras if line.strip()[0].isdigit()]
    assert searched == [str(base / "models" / "loras"), str(base / "more-loras"), str(sd / "models" / "Lora"),
                        str(sd / "models" / "LyCORIS")]
    assert f"2. {base / 'more-loras'}  (--loras-dir)" in loras[1]  # the default folder was made: no warning
    assert "[a111], line 4" in loras[3]
    assert any(f"warning: {base / 'more-loras'} does not exist" in line for line in loras)
    assert not any(f"warning: {sd / 'models' / 'Lora'} " in line for line in loras)
    assert any(f"warning: {sd / 'models' / 'VAE'} does not exist" in line for line in lines)
    assert "not used by Latentloom yet" in done.stdout and str(sd / "models" / "PhotoMaker") in done.stdout


def test_models_paths_makes_the_default_folders_and_warns_only_about_named_ones(tmp_path):
    base = tmp_path / "fresh"
    base.mkdir()
    done = latentloom("models", "paths", "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stdout + done.stderr
    for folder in ("models/checkpoints", "models/vae", "models/loras", "models/embeddings", "input", "output"):
        assert (base / folder).is_dir(), folder

    named = tmp_path / "big-drive" / "vae"
    done = latentloom("models", "paths", "--base-dir", base, "--vae-dir", named, cwd=base)
    assert done.returncode == 0, done.stderr
    warnings = [line.strip() for line in done.stdout.splitlines() if "warning" in line]
    assert warnings == [f"warning: {named} does not exist: create it, or correct the path"]
    assert not named.exists()  # a folder the user named may be a typo: it is not made


def test_models_paths_json(install):
    base, sd = install
    done = latentloom("models", "paths", "--json", "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert listing["kinds"]["checkpoints"] == [
        {"path": str(base / "models" / "checkpoints"), "origin": "default", "exists": True},  # made on first use
        {"path": str(sd / "models" / "Stable-diffusion"), "exists": True,
         "origin": f"{base / 'extra_model_paths.yaml'} [a111], line 3"}]
    assert str(sd / "models" / "ControlNet") in [root["path"] for root in listing["kinds"]["controlnet"]]
    assert listing["not_used"]["photomaker"][0]["path"] == str(sd / "models" / "PhotoMaker")


def test_an_a1111_checkpoint_and_lora_are_in_the_combos_and_run(install):
    base, sd = install
    ran = offer_and_run(base, "x.safetensors", "detail.safetensors")
    assert "loaded x.safetensors: SD1.x" in ran.stderr
    assert "LoRA detail.safetensors:" in ran.stderr and "2 layers matched, 0 unmatched" in ran.stderr


def test_extra_model_paths_config_adds_another_file(install, tmp_path):
    base, _ = install
    other = tmp_path / "comfy" / "models" / "loras"
    other.mkdir(parents=True)
    (other / "comfy-style.safetensors").write_bytes(b"x")
    config = tmp_path / "comfy" / "paths.yaml"
    config.write_text("comfyui:\n    loras: models/loras\n")  # relative to the yaml's folder: no base_path
    done = latentloom("nodes", "--json", "--base-dir", base, "--extra-model-paths-config", config, cwd=base)
    assert done.returncode == 0, done.stderr
    choices = json.loads(done.stdout)["LoraLoader"]["input"]["required"]["lora_name"][0]
    assert choices == ["comfy-style.safetensors", "detail.safetensors"]


@pytest.mark.parametrize("command", [("models", "paths"), ("nodes",)])
def test_a_malformed_yaml_exits_2_naming_the_file_and_line(tmp_path, command):
    base = tmp_path / "base"
    base.mkdir()
    config = base / "extra_model_paths.yaml"
    config.write_text("a111:\n    base_path: /sd\n    loras: |\n        models/Lora\n   checkpoints: x\n")
    done = latentloom(*command, "--base-dir", base, cwd=base)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"{config}, line 5" in errors[0] and "not valid YAML" in errors[0], done.stderr


def test_a_missing_extra_model_paths_config_exits_2(tmp_path):
    done = latentloom("models", "paths", "--base-dir", tmp_path, "--extra-model-paths-config", tmp_path / "nope.yaml",
                      cwd=tmp_path)
    assert done.returncode == 2 and "nope.yaml" in done.stderr and "Traceback" not in done.stderr
