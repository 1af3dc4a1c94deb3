"""`latentloom run` and `latentloom convert` on every form a workflow arrives in: API JSON, editor JSON, our own
saved PNG, an AUTOMATIC1111 PNG; on the demo checkpoint, through the real command line (the first test, as a
subprocess) and through its `main` in this process (the rest, to keep the suite quick)."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.cli.test_cli_text_to_image import REPO, WORKFLOW, latentloom
from tests.fixtures.example_workflows import example_prompt

DEMO = "latentloom-demo-sd1-random-weights.safetensors"
SMALL = ["--set", "5.width=64", "--set", "5.height=64", "--set", "3.steps=2", "--set", "3.seed=77"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    from nodes.runtime.demo_model import write_demo_checkpoint

    folder = tmp_path_factory.mktemp("workflow_files")
    write_demo_checkpoint(folder / "models" / "checkpoints" / DEMO)
    return folder


def in_process(*args: str | Path) -> subprocess.CompletedProcess:
    """`latentloom ARGS` through its main function, stdout and stderr captured."""
    from latentloom.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(arg) for arg in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def run_json(base: Path, workflow: Path, *extra: str, command=in_process) -> dict:
    ran = command("run", workflow, "--base-dir", base, "--json", *extra) if command is in_process else \
        command("run", workflow, "--base-dir", base, "--json", *extra, cwd=REPO)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def saved_pixels(base: Path, outputs: dict) -> tuple[Path, np.ndarray]:
    (image,) = [entry for output in outputs.values() for entry in output.get("images", [])]
    path = base / "output" / image["subfolder"] / image["filename"]
    with Image.open(path) as png:
        return path, np.asarray(png.convert("RGB"))


@pytest.fixture(scope="module")
def first_image(base) -> tuple[Path, np.ndarray]:
    return saved_pixels(base, run_json(base, WORKFLOW, *SMALL))


def test_our_saved_png_run_again_gives_the_same_image(base, first_image):
    png, pixels = first_image
    again_path, again = saved_pixels(base, run_json(base, png, command=latentloom))
    assert again_path != png
    assert np.array_equal(again, pixels)


def test_an_api_file_converted_to_the_editor_form_runs_to_the_same_image(base, first_image, tmp_path):
    api_file = tmp_path / "small_api.json"
    prompt = example_prompt("text_to_image.json")
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=2, seed=77)
    api_file.write_text(json.dumps(prompt))
    ui_file = tmp_path / "small_ui.json"
    converted = in_process("convert", api_file, ui_file, "--base-dir", base)
    assert converted.returncode == 0, converted.stderr
    editor = json.loads(ui_file.read_text())
    assert {node["type"] for node in editor["nodes"]} == {node["class_type"] for node in prompt.values()}
    assert editor["links"] and "editor (UI) format" in converted.stdout

    _, pixels = saved_pixels(base, run_json(base, ui_file))
    assert np.array_equal(pixels, first_image[1])


def write_a1111_png(path: Path, parameters: str) -> Path:
    info = PngInfo()
    info.add_text("parameters", parameters)
    Image.new("RGB", (8, 8), "gray").save(path, pnginfo=info)
    return path


def test_an_a1111_png_runs_as_the_equivalent_workflow(base, tmp_path):
    png = write_a1111_png(tmp_path / "a1111.png", (
        "a lighthouse at dusk\nNegative prompt: fog\nSteps: 2, Sampler: Euler a, CFG scale: 5, Seed: 7, "
        "Size: 64x64, Model hash: 0000000000, Model: latentloom-demo-sd1-random-weights, Version: v1.10.1"))
    outputs = run_json(base, png)
    path, pixels = saved_pixels(base, outputs)
    assert path.name.startswith("A1111_") and pixels.shape[2] == 3

    api_file = tmp_path / "a1111_api.json"
    converted = in_process("convert", png, api_file, "--base-dir", base)
    assert converted.returncode == 0, converted.stderr
    prompt = json.loads(api_file.read_text())
    (sampler,) = [node["inputs"] for node in prompt.values() if node["class_type"] == "KSampler"]
    assert (sampler["seed"], sampler["steps"], sampler["cfg"], sampler["sampler_name"], sampler["scheduler"]) == \
        (7, 2, 5.0, "euler_ancestral", "normal")
    texts = sorted(node["inputs"]["text"] for node in prompt.values() if node["class_type"] == "CLIPTextEncode")
    assert texts == ["a lighthouse at dusk", "fog"]
    (loader,) = [node["inputs"] for node in prompt.values() if node["class_type"] == "CheckpointLoaderSimple"]
    assert loader["ckpt_name"] == DEMO


def test_images_without_a_workflow_and_missing_models_get_clear_errors(base, tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    ran = in_process("run", plain, "--base-dir", base)
    assert ran.returncode == 2
    assert "plain.png: the image carries no workflow" in ran.stderr and "parameters" in ran.stderr

    unknown = write_a1111_png(tmp_path / "other_model.png", "a cat\nSteps: 2, Seed: 1, Size: 64x64, "
                                                             "Model hash: 1234567890, Model: dreamshaper_8")
    ran = in_process("run", unknown, "--base-dir", base)
    assert ran.returncode == 2
    assert "'dreamshaper_8' (hash 1234567890) is not installed" in ran.stderr
    assert "models/checkpoints" in ran.stderr
