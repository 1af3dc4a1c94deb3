"""LoadImage's frame and pixel limits: small files of many big frames are refused at validation, naming the file, the
frames, the size and the limit; frames the header does not tell of are counted before they are decoded."""
from __future__ import annotations

import pytest

from nodes.images.load import MAX_LOADED_FRAMES, MAX_LOADED_PIXELS
from tests.fixtures.frame_bombs import (BOMB_FRAMES, BOMB_SIDE, write_frame_bombs, write_growing_tiff,
                                        write_many_frames)


def load_prompt(name: str) -> dict:
    return {"load": {"class_type": "LoadImage", "inputs": {"image": name}},
            "save": {"class_type": "PreviewImage", "inputs": {"images": ["load", 0]}}}


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    return write_frame_bombs(tmp_path_factory.mktemp("bombs"))


@pytest.mark.parametrize("name", ["bomb.png", "bomb.gif", "bomb.tiff"])
def test_small_files_of_many_big_frames_are_refused_at_validation(engine, folders, bombs, name):
    (folders.input / name).write_bytes(bombs[name].read_bytes())
    assert bombs[name].stat().st_size < 200_000  # a small file ...
    report = engine.validate(load_prompt(name))
    [error] = report.node_errors["load"].errors
    assert error.type == "custom_validation_failed" and error.input_name == "image"
    pixels = BOMB_FRAMES * BOMB_SIDE * BOMB_SIDE  # ... of 84 megapixels: 1.3 GB of float32 frames and masks
    assert error.details == (f"Invalid image file: '{name}' holds {pixels:,} pixels in {BOMB_FRAMES} frame(s) of up "
                             f"to {BOMB_SIDE}x{BOMB_SIDE}, more than LoadImage's limit of {MAX_LOADED_PIXELS:,} "
                             f"pixels across all frames; use a smaller image or fewer frames")


def test_more_frames_than_the_cap_are_refused_however_small(engine, folders):
    write_many_frames(folders.input / "long.gif", MAX_LOADED_FRAMES + 1)
    [error] = engine.validate(load_prompt("long.gif")).node_errors["load"].errors
    assert f"'long.gif' has more than {MAX_LOADED_FRAMES} frames" in error.details


def test_an_unreadable_file_is_refused_at_validation_without_its_path(engine, folders):
    (folders.input / "notes.png").write_text("not an image")
    [error] = engine.validate(load_prompt("notes.png")).node_errors["load"].errors
    assert error.details == "Invalid image file: 'notes.png' is not an image Pillow can read (UnidentifiedImageError)"


def test_frames_bigger_than_the_header_says_are_counted_before_they_are_decoded(engine, folders):
    write_growing_tiff(folders.input / "growing.tiff")
    assert engine.validate(load_prompt("growing.tiff")).ok  # its first page is 16 x 16
    result = engine.execute(engine.validate(load_prompt("growing.tiff")), load_prompt("growing.tiff"))
    assert result.status == "error"
    assert result.error["exception_message"] == (
        f"Invalid image file: 'growing.tiff' holds 64,000,256 pixels in 2 frame(s) of up to 8000x8000, more than "
        f"LoadImage's limit of {MAX_LOADED_PIXELS:,} pixels across all frames; use a smaller image or fewer frames")


def test_animation_within_the_limits_loads_every_frame(engine, folders):
    write_many_frames(folders.input / "short.gif", 3, side=8)
    result = engine.run(load_prompt("short.gif"))
    assert result.ok, result.error
    assert len(result.outputs["save"]["images"]) == 3
