"""LoadImage's frame and pixel limits: small files of many big frames are refused at validation, naming the file, the
frames, their size and the limit; a file changed after validation is counted frame by frame before decoding."""
from __future__ import annotations

import pytest
from PIL import Image

from nodes.images.load import MAX_LOADED_FRAMES, MAX_LOADED_PIXELS
from tests.fixtures.animated_images import animated_gif, animated_png, many_page_tiff

BOMBS = {  # a few KB each, over 1.3 GB as float32 frames and masks
    "bomb.png": (lambda: animated_png(5, 4096, 4096), "5 frames of 4096x4096 (83886080 pixels in all)"),
    "bomb.gif": (lambda: animated_gif(5, 4096, 4096), "5 frames of 4096x4096 (83886080 pixels in all)"),
    "bomb.tiff": (lambda: many_page_tiff((16, 16), 5, (4096, 4096)),
                  "6 frames, the first 16x16 (83886336 pixels in all)"),
}


def load_prompt(name: str) -> dict:
    return {"load": {"class_type": "LoadImage", "inputs": {"image": name}},
            "save": {"class_type": "PreviewImage", "inputs": {"images": ["load", 0]}}}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_small_files_of_many_big_frames_are_refused_at_validation(engine, folders, name):
    write, described = BOMBS[name]
    (folders.input / name).write_bytes(write())
    assert (folders.input / name).stat().st_size < 100_000
    [error] = engine.validate(load_prompt(name)).node_errors["load"].errors
    assert error.type == "custom_validation_failed" and error.input_name == "image"
    assert error.details == (f"Invalid image file: '{name}' is {described}: more than LoadImage's limit of "
                             f"{MAX_LOADED_PIXELS:,} pixels across all frames; use a smaller image or fewer frames")


def test_more_frames_than_the_cap_are_refused_however_small(engine, folders):
    (folders.input / "long.gif").write_bytes(animated_gif(MAX_LOADED_FRAMES + 1, 2, 2))
    [error] = engine.validate(load_prompt("long.gif")).node_errors["load"].errors
    assert f"'long.gif' has more than {MAX_LOADED_FRAMES} frames, LoadImage's limit" in error.details


def test_an_unreadable_file_is_refused_at_validation_without_its_path(engine, folders):
    (folders.input / "notes.png").write_text("not an image")
    [error] = engine.validate(load_prompt("notes.png")).node_errors["load"].errors
    assert error.details == "Invalid image file: 'notes.png' is not an image Pillow can read (UnidentifiedImageError)"


def test_a_file_changed_after_validation_is_stopped_before_its_frame_is_decoded(engine, folders):
    Image.new("L", (8, 8)).save(folders.input / "swap.tiff")
    report = engine.validate(load_prompt("swap.tiff"))
    assert report.ok
    (folders.input / "swap.tiff").write_bytes(many_page_tiff((8000, 8001), 1, (16, 16)))
    result = engine.execute(report, load_prompt("swap.tiff"))
    assert result.status == "error"
    assert result.error.exception_message == (
        f"Invalid image file: 'swap.tiff' is 8000x8001: more than LoadImage's limit of {MAX_LOADED_PIXELS:,} pixels "
        f"across all frames; use a smaller image or fewer frames")


def test_animation_within_the_limits_loads_every_frame(engine, folders):
    (folders.input / "short.gif").write_bytes(animated_gif(3, 8, 8))
    result = engine.run(load_prompt("short.gif"))
    assert result.ok, result.error
    assert len(result.outputs["save"]["images"]) == 3
