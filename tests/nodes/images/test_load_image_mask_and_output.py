"""LoadImageMask (one channel of an input image) and LoadImageOutput (a saved image from the output folder)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from nodes.images import NODE_CLASS_MAPPINGS
from tests.nodes.images.image_helpers import run_and_capture

LoadImageMask = NODE_CLASS_MAPPINGS["LoadImageMask"]
LoadImageOutput = NODE_CLASS_MAPPINGS["LoadImageOutput"]


def refusal(engine, class_type: str, **inputs) -> str:
    """The details of the one error validation finds in the loader of a prompt that captures its output."""
    prompt = {"load": {"class_type": class_type, "inputs": inputs},
              "capture": {"class_type": "CaptureValue", "inputs": {"value": ["load", 0]}}}
    (error,) = engine.validate(prompt).node_errors["load"].errors
    return error.details


@pytest.fixture
def rgba_pixels(folders):
    """A 2x3 RGBA picture with distinct values in every channel, saved in the input folder as 'four.png'."""
    pixels = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    Image.fromarray(pixels, "RGBA").save(folders.input / "four.png")
    return pixels


@pytest.mark.parametrize("channel, index", [("red", 0), ("green", 1), ("blue", 2)])
def test_a_colour_channel_becomes_the_mask(engine, rgba_pixels, channel, index):
    prompt = {"load": {"class_type": "LoadImageMask", "inputs": {"image": "four.png", "channel": channel}}}
    mask = run_and_capture(engine, prompt, "load")
    assert tuple(mask.shape) == (1, 2, 3)
    assert torch.allclose(mask[0], torch.from_numpy(rgba_pixels[..., index] / 255.0).float())


def test_alpha_gives_one_where_transparent(engine, rgba_pixels):
    prompt = {"load": {"class_type": "LoadImageMask", "inputs": {"image": "four.png", "channel": "alpha"}}}
    mask = run_and_capture(engine, prompt, "load")
    assert torch.allclose(mask[0], 1.0 - torch.from_numpy(rgba_pixels[..., 3] / 255.0).float())


def test_alpha_of_an_opaque_file_is_an_empty_64_by_64_mask(engine, folders):
    Image.new("RGB", (5, 4), (9, 9, 9)).save(folders.input / "opaque.png")
    prompt = {"load": {"class_type": "LoadImageMask", "inputs": {"image": "opaque.png", "channel": "alpha"}}}
    mask = run_and_capture(engine, prompt, "load")
    assert tuple(mask.shape) == (1, 64, 64) and float(mask.abs().sum()) == 0.0


def test_mask_loader_checks_its_file_and_channel(engine, folders, folders_current, rgba_pixels):
    assert "'none.png' is not in the input folder" in refusal(engine, "LoadImageMask", image="none.png", channel="red")
    assert "'hue' not in ['alpha', 'red', 'green', 'blue']" in refusal(engine, "LoadImageMask", image="four.png",
                                                                      channel="hue")
    digest = hashlib.sha256((folders.input / "four.png").read_bytes()).hexdigest()
    assert LoadImageMask.IS_CHANGED(image="four.png", channel="red") == digest
    assert LoadImageMask.INPUT_TYPES()["required"]["image"][0] == ["four.png"]


def test_output_loader_reads_the_output_folder(engine, folders, folders_current):
    Image.new("RGBA", (3, 2), (255, 0, 0, 64)).save(folders.output / "saved.png")
    Image.new("RGB", (3, 2), (0, 255, 0)).save(folders.input / "saved.png")  # same name, other folder: not read
    choices = LoadImageOutput.INPUT_TYPES()["required"]["image"][1]["options"]
    assert choices == ["saved.png"]
    for name in ("saved.png", "saved.png [output]"):
        prompt = {"load": {"class_type": "LoadImageOutput", "inputs": {"image": name}}}
        image = run_and_capture(engine, prompt, "load", 0)
        mask = run_and_capture(engine, prompt, "load", 1)
        assert torch.equal(image, torch.tensor([1.0, 0.0, 0.0]).expand(1, 2, 3, 3))
        assert torch.allclose(mask, torch.full((1, 2, 3), 1.0 - 64 / 255))


def test_output_loader_refuses_names_outside_the_output_folder(engine, folders):
    Image.new("RGB", (2, 2)).save(folders.input / "only_input.png")
    assert "'only_input.png' is not in the output folder" in refusal(engine, "LoadImageOutput", image="only_input.png")
    assert "points outside the output folder" in refusal(engine, "LoadImageOutput", image="../input/only_input.png")
