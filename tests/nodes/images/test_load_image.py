"""LoadImage through the real engine: round trip, alpha -> mask, EXIF orientation, listing, checks, IS_CHANGED."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from graph_engine import WorkflowInvalid
from nodes.images import NODE_CLASS_MAPPINGS
from tests.nodes.images.image_helpers import CaptureNode, make_images, source

LoadImage = NODE_CLASS_MAPPINGS["LoadImage"]


class Capture(CaptureNode):
    """Output node that hands the image and mask it gets to the test."""
    seen: dict = {}

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "mask": ("MASK",)}}

    def take(self, image, mask):
        Capture.seen = {"image": image, "mask": mask}
        return {"ui": {"shape": [list(image.shape), list(mask.shape)]}}


@pytest.fixture
def loading(engine):
    engine.registry.register("CaptureImage", Capture, source="test")
    return engine


def load(engine, name: str):
    prompt = {"load": {"class_type": "LoadImage", "inputs": {"image": name}},
              "cap": {"class_type": "CaptureImage", "inputs": {"image": ["load", 0], "mask": ["load", 1]}}}
    result = engine.run(prompt)
    return result, Capture.seen


def test_save_then_load_round_trip_with_alpha_as_mask(loading, folders, folders_current):
    prompt = {"src": source(seed=7, height=5, width=6, channels=4),
              "save": {"class_type": "SaveImage", "inputs": {"images": ["src", 0], "filename_prefix": "rt"}}}
    result = loading.run(prompt)
    assert result.ok, result.error
    saved = folders.output / result.outputs["save"]["images"][0]["filename"]
    (folders.input / "rt.png").write_bytes(saved.read_bytes())

    assert "rt.png" in LoadImage.INPUT_TYPES()["required"]["image"][0]  # refreshed on each call
    result, seen = load(loading, "rt.png")
    assert result.ok, result.error
    image, mask = seen["image"], seen["mask"]
    assert image.dtype == torch.float32 and tuple(image.shape) == (1, 5, 6, 3)
    assert tuple(mask.shape) == (1, 5, 6)
    pixels = np.clip(255.0 * make_images(7, 1, 5, 6, 4).numpy(), 0, 255).astype(np.uint8)
    assert torch.allclose(image, torch.from_numpy(pixels[..., :3].astype(np.float32) / 255.0))
    assert torch.allclose(mask, 1.0 - torch.from_numpy(pixels[..., 3].astype(np.float32) / 255.0))
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0


def test_no_alpha_gives_a_64_by_64_zero_mask(loading, folders):
    Image.fromarray(np.full((3, 4, 3), 200, np.uint8)).save(folders.input / "plain.png")
    result, seen = load(loading, "plain.png")
    assert result.ok, result.error
    assert tuple(seen["image"].shape) == (1, 3, 4, 3)
    assert torch.allclose(seen["image"], torch.full((1, 3, 4, 3), 200 / 255.0))
    assert tuple(seen["mask"].shape) == (1, 64, 64) and float(seen["mask"].abs().sum()) == 0.0


def test_palette_transparency_becomes_the_mask(loading, folders):
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 255, 0])
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 0
    palette.save(folders.input / "pal.png", transparency=0)
    result, seen = load(loading, "pal.png")
    assert result.ok, result.error
    assert seen["mask"].tolist() == [[[1.0, 0.0]]]


def test_exif_orientation_is_applied(loading, folders):
    # 4 wide, 2 high, left half black, right half white; orientation 6 = shown rotated 90 degrees clockwise
    pixels = np.zeros((2, 4, 3), np.uint8)
    pixels[:, 2:] = 255
    stored = Image.fromarray(pixels)
    exif = stored.getexif()
    exif[0x0112] = 6
    stored.save(folders.input / "rotated.jpg", format="JPEG", quality=100, exif=exif.tobytes())
    result, seen = load(loading, "rotated.jpg")
    assert result.ok, result.error
    image = seen["image"][0]
    assert tuple(image.shape) == (4, 2, 3)  # height and width swapped
    assert float(image[0].mean()) < 0.2 and float(image[-1].mean()) > 0.8  # black on top, white below


def test_missing_file_is_refused_before_running(loading, folders):
    with pytest.raises(WorkflowInvalid) as refused:
        load(loading, "nothing.png")
    text = str(refused.value)
    assert "custom_validation_failed" in str(refused.value.report.to_json())
    assert "Invalid image file" in text and "nothing.png" in text and "not in the input folder" in text
    assert "put the file there or upload it" in text and "demo-model" not in text


def test_a_missing_example_picture_says_which_command_writes_it(loading, folders):
    with pytest.raises(WorkflowInvalid) as refused:
        load(loading, "example.png")
    assert "`latentloom demo-model` writes it" in str(refused.value)


@pytest.mark.parametrize("name", ["../outside.png", "/etc/hostname", "link.png"])
def test_paths_outside_the_input_folder_are_refused(loading, folders, folders_current, name):
    outside = folders.base / "outside.png"
    Image.new("RGB", (2, 2)).save(outside)
    (folders.input / "link.png").symlink_to(outside)
    message = LoadImage.VALIDATE_INPUTS(name)
    assert message is not True and "input folder" in message
    with pytest.raises(WorkflowInvalid, match="Invalid image file"):
        load(loading, name)


def test_subfolder_name_inside_input_is_allowed(loading, folders, folders_current):
    (folders.input / "sub").mkdir()
    Image.new("RGB", (3, 2), (0, 0, 255)).save(folders.input / "sub" / "blue.png")
    assert LoadImage.VALIDATE_INPUTS("sub/blue.png") is True
    result, seen = load(loading, "sub/blue.png")
    assert result.ok, result.error
    assert tuple(seen["image"].shape) == (1, 2, 3, 3)


def test_listing_and_is_changed(loading, folders, folders_current):
    Image.new("RGB", (2, 2)).save(folders.input / "b.png")
    Image.new("RGB", (2, 2)).save(folders.input / "a.jpg")
    (folders.input / "notes.txt").write_text("not an image")
    (folders.input / "dir.png").mkdir()
    assert LoadImage.INPUT_TYPES()["required"]["image"][0] == ["a.jpg", "b.png"]
    digest = hashlib.sha256((folders.input / "b.png").read_bytes()).hexdigest()
    assert LoadImage.IS_CHANGED("b.png") == digest
    Image.new("RGB", (2, 2), (1, 2, 3)).save(folders.input / "b.png")
    assert LoadImage.IS_CHANGED("b.png") != digest


def test_a_changed_file_is_loaded_again(loading, folders):
    Image.new("RGB", (2, 2), (0, 0, 0)).save(folders.input / "c.png")
    first, seen = load(loading, "c.png")
    assert first.ok and float(seen["image"].max()) == 0.0
    Image.new("RGB", (2, 2), (255, 255, 255)).save(folders.input / "c.png")
    second, seen = load(loading, "c.png")
    assert second.ok and float(seen["image"].min()) == 1.0
