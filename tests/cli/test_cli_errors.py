"""What `latentloom` prints when things go wrong, through the real command line: a model file that cannot be used
is one line naming the file and what to do; a bug is one line naming a log file that holds its traceback (or the
traceback itself with --verbose); a reader that stops early (`latentloom nodes | head`) ends the command quietly."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from tests.cli.test_cli import error_lines, latentloom, write
from tests.fixtures.tiny_checkpoints import build_sd1, write_kohya_lora

SIGPIPE_EXIT = 128 + 13


@pytest.fixture
def base(tmp_path) -> Path:
    folder = tmp_path / "base"
    folder.mkdir()
    return folder


def encoding_with(loaders: dict, clip_from: str) -> dict:
    """The loaders, then CLIPTextEncode (node 3) of the CLIP of node `clip_from`, shown by PreviewAny (node 4)."""
    return {**loaders, "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": [clip_from, 1], "text": "a lighthouse"}},
            "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}}


def checkpoint_loader(name: str) -> dict:
    return {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": name}}}


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr and 'File "' not in stderr, stderr


# --- model files the user has to fix ----------------------------------------------------------------------------------


def test_a_truncated_lora_is_one_line_naming_the_file_even_with_q(base):
    build_sd1(base / "models" / "checkpoints", "tiny.safetensors")
    lora = write_kohya_lora(base / "models" / "loras" / "broken.safetensors")
    lora.write_bytes(lora.read_bytes()[:lora.stat().st_size // 2])  # an interrupted download
    workflow = base / "lora.json"
    workflow.write_text(json.dumps(encoding_with({
        **checkpoint_loader("tiny.safetensors"),
        "2": {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1],
                                                     "lora_name": "broken.safetensors", "strength_model": 1.0,
                                                     "strength_clip": 1.0}}}, clip_from="2")))
    done = latentloom("run", workflow, "-q", "--base-dir", base, cwd=base)
    assert done.returncode == 1, done.stderr
    assert_no_traceback(done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) <= 2, done.stderr
    [line] = error_lines(done.stderr)
    assert line.startswith("error: node 2 (LoraLoader) failed: ") and str(lora) in line
    assert "truncated" in line and "download it again" in line
    assert "nodes.runtime" not in line  # no class path: the message is the whole story
    assert not (base / "user" / "logs").exists()  # nothing to look up


def test_a_checkpoint_of_a_family_latentloom_cannot_run_is_one_line(base):
    checkpoint = base / "models" / "checkpoints" / "sd3_medium.safetensors"
    checkpoint.parent.mkdir(parents=True)
    save_file({"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight": torch.zeros(8, 4),
               "model.diffusion_model.x_embedder.proj.weight": torch.zeros(4, 4)}, str(checkpoint))
    workflow = base / "sd3.json"
    workflow.write_text(json.dumps(encoding_with(checkpoint_loader("sd3_medium.safetensors"), clip_from="1")))
    done = latentloom("run", workflow, "--base-dir", base, cwd=base)
    assert done.returncode == 1, done.stderr
    assert_no_traceback(done.stderr)
    assert len(done.stderr.splitlines()) <= 3, done.stderr
    [line] = error_lines(done.stderr)
    assert line.startswith("error: node 1 (CheckpointLoaderSimple) failed: ") and str(checkpoint) in line
    assert "Stable Diffusion 3" in line and "SDXL" in line


def test_a_value_a_node_cannot_work_with_is_one_line_saying_what_it_needs(base):
    build_sd1(base / "models" / "checkpoints", "tiny.safetensors")
    (base / "input").mkdir()
    Image.new("RGB", (1, 1), (120, 30, 200)).save(base / "input" / "icon.png")  # smaller than one latent pixel
    workflow = base / "encode.json"
    workflow.write_text(json.dumps({
        **checkpoint_loader("tiny.safetensors"),
        "2": {"class_type": "LoadImage", "inputs": {"image": "icon.png"}},
        "3": {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["1", 2]}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}}))
    done = latentloom("run", workflow, "--base-dir", base, cwd=base)
    assert done.returncode == 1, done.stderr
    assert_no_traceback(done.stderr)
    [line] = error_lines(done.stderr)
    assert line.startswith("error: node 3 (VAEEncode) failed: the image is 1x1 pixels; the VAE needs at least ")
    assert not (base / "user" / "logs").exists() or not any((base / "user" / "logs").iterdir())


# --- bugs: one line, and the traceback kept in a log file ---------------------------------------------------------------


@pytest.fixture
def dividing_plugin(tmp_path) -> Path:
    folder = tmp_path / "plugins"
    write(folder / "ll_cli_divides.py", """
        class Ratio:
            CATEGORY = "tests"
            RETURN_TYPES = ("FLOAT",)
            FUNCTION = "run"

            @classmethod
            def INPUT_TYPES(cls):
                return {"required": {"parts": ("INT", {})}}

            def run(self, parts):
                return (1 / parts,)  # the plugin's bug: parts may be 0

        NODE_CLASS_MAPPINGS = {"Ratio": Ratio}
        """)
    return folder


def run_ratio(base: Path, plugins: Path, *options: str) -> subprocess.CompletedProcess:
    workflow = base / "ratio.json"
    workflow.write_text(json.dumps({"1": {"class_type": "Ratio", "inputs": {"parts": 0}},
                                    "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}))
    return latentloom("run", workflow, *options, "--extra-custom-nodes", plugins, "--base-dir", base, cwd=base)


def test_a_bug_in_a_node_is_one_line_naming_the_log_file_that_holds_its_traceback(base, dividing_plugin):
    done = run_ratio(base, dividing_plugin)
    assert done.returncode == 1, done.stderr
    assert_no_traceback(done.stderr)
    [line] = error_lines(done.stderr)
    assert "node 1 (Ratio)" in line and "ZeroDivisionError" in line and "division by zero" in line
    logged = re.search(r"traceback in (\S+\.log)\)", line)
    assert logged, line
    log_file = Path(logged.group(1))
    assert log_file.parent == base / "user" / "logs"
    text = log_file.read_text()
    assert "Traceback (most recent call last)" in text and "ll_cli_divides.py" in text
    assert "return (1 / parts,)" in text and "ZeroDivisionError: division by zero" in text


def test_verbose_prints_the_traceback_of_a_bug_instead(base, dividing_plugin):
    done = run_ratio(base, dividing_plugin, "--verbose")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and "return (1 / parts,)" in done.stderr
    assert done.stderr.count("return (1 / parts,)") == 1  # once: the engine's own log record is not shown too
    [line] = error_lines(done.stderr)
    assert "node 1 (Ratio)" in line and "ZeroDivisionError" in line and ".log" not in line
    assert not (base / "user" / "logs").exists()


def test_a_bug_outside_any_node_is_one_line_naming_the_log_file(tmp_path, base):
    """A plugin's input default whose repr() fails breaks `nodes --json`, outside any run."""
    plugins = tmp_path / "plugins"
    write(plugins / "ll_cli_bad_repr.py", """
        class Unprintable:
            def __repr__(self):
                return str(1 // 0)

        class Odd:
            CATEGORY = "tests"
            RETURN_TYPES = ("INT",)
            FUNCTION = "run"

            @classmethod
            def INPUT_TYPES(cls):
                return {"required": {"x": ("INT", {"default": 1, "odd": Unprintable()})}}

            def run(self, x):
                return (x,)

        NODE_CLASS_MAPPINGS = {"Odd": Odd}
        """)
    done = latentloom("nodes", "--json", "--extra-custom-nodes", plugins, "--base-dir", base, cwd=base)
    assert done.returncode == 1
    assert_no_traceback(done.stderr)
    [line] = error_lines(done.stderr)
    assert "latentloom nodes" in line and "ZeroDivisionError" in line
    log_file = Path(re.search(r"traceback in (\S+\.log)\)", line).group(1))
    assert log_file.parent == base / "user" / "logs" and "__repr__" in log_file.read_text()


def test_a_file_system_error_is_one_line(base):
    target = base / "a_folder.json"
    target.mkdir()
    done = latentloom("convert", Path(__file__).parents[2] / "workflows" / "utility_example.json", target,
                      "--base-dir", base, cwd=base)
    assert done.returncode == 1
    assert_no_traceback(done.stderr)
    [line] = error_lines(done.stderr)
    assert line == f"error: Is a directory: {target}"


# --- a reader that stops early -------------------------------------------------------------------------------------------


@pytest.fixture
def many_nodes(tmp_path) -> Path:
    """A plugin with 3000 node classes, so the listing is far larger than a pipe holds (64 KiB)."""
    folder = tmp_path / "plugins"
    write(folder / "ll_cli_many.py", """
        def make(number):
            class Node:
                CATEGORY = "tests/many"
                RETURN_TYPES = ("INT",)
                FUNCTION = "run"

                @classmethod
                def INPUT_TYPES(cls):
                    return {"required": {"value": ("INT", {"default": number})}}

                def run(self, value):
                    return (value,)
            return Node

        NODE_CLASS_MAPPINGS = {f"ManyNode{n:05d}WithALongNameSoTheListingIsLarge": make(n) for n in range(3000)}
        """)
    return folder


@pytest.mark.parametrize("options", [[], ["--json"]], ids=["text", "json"])
def test_nodes_ends_quietly_when_its_reader_stops_early(base, many_nodes, options):
    environment = {k: v for k, v in os.environ.items() if k != "LATENTLOOM_CUSTOM_NODES"}
    command = [sys.executable, "-m", "latentloom", "nodes", *options, "--extra-custom-nodes", str(many_nodes),
               "--base-dir", str(base)]
    process = subprocess.Popen(command, cwd=base, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout.readline()  # as `head -1` does: one line, then the pipe is closed
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=120) == SIGPIPE_EXIT, stderr
    finally:
        process.kill()
        process.wait()
    assert "BrokenPipeError" not in stderr and "Exception ignored" not in stderr, stderr
    assert_no_traceback(stderr)
    assert error_lines(stderr) == []
