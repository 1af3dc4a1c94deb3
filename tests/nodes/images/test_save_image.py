"""SaveImage and PreviewImage through the real engine: pixels, metadata, names, counters, no overwrite, safety."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.nodes.images.image_helpers import make_images, source

WORKFLOW = {"last_node_id": 2, "nodes": [{"id": 1, "type": "SaveImage"}], "links": [], "version": 0.4}


def save_prompt(prefix="ComfyUI", seed=0, batch=1, height=8, width=8, channels=3) -> dict:
    return {"src": source(seed, batch, height, width, channels),
            "save": {"class_type": "SaveImage", "inputs": {"images": ["src", 0], "filename_prefix": prefix},
                     "_meta": {"title": "Save"}}}


def run_ok(engine, prompt, **kwargs) -> list[dict]:
    result = engine.run(prompt, **kwargs)
    assert result.ok, result.error
    return result.outputs["save"]["images"]


def expected_pixels(seed, batch, height, width, channels=3):
    values = make_images(seed, batch, height, width, channels).numpy()
    return np.clip(255.0 * values, 0, 255).astype(np.uint8)  # ComfyUI truncates after clipping


def test_saves_each_image_with_comfyui_pixels_names_and_ui(engine, folders):
    images = run_ok(engine, save_prompt(seed=3, batch=2, height=6, width=7))
    assert images == [{"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"},
                      {"filename": "ComfyUI_00002_.png", "subfolder": "", "type": "output"}]
    expected = expected_pixels(3, 2, 6, 7)
    assert expected[0, 0, :4, 0].tolist() == [0, 255, 254, 127]  # clipping and truncation, not rounding
    for index, entry in enumerate(images):
        with Image.open(folders.output / entry["filename"]) as png:
            assert png.format == "PNG" and png.mode == "RGB" and png.size == (7, 6)
            assert np.array_equal(np.array(png), expected[index])
    assert not [name for name in os.listdir(folders.output) if not name.endswith("_.png")]  # no temporary left


def test_nan_and_infinities_are_saved_as_black_and_white_not_garbage():
    import torch

    from nodes.images.conversion import to_uint8_batch

    values = [float("nan"), float("inf"), float("-inf"), 1.7, -0.3, 0.5, 0.999]
    for images in (torch.tensor(values).reshape(1, 1, 7, 1), np.array(values).reshape(1, 1, 7, 1)):
        (pixels,) = to_uint8_batch(images)
        assert pixels.dtype == np.uint8 and pixels.tolist() == [[0, 255, 0, 255, 0, 127, 254]]


@pytest.mark.parametrize("channels,mode", [(4, "RGBA"), (1, "L")])
def test_alpha_and_grey_images(engine, folders, channels, mode):
    (entry,) = run_ok(engine, save_prompt(seed=5, channels=channels))
    with Image.open(folders.output / entry["filename"]) as png:
        assert png.mode == mode
        expected = expected_pixels(5, 1, 8, 8, channels)[0]
        assert np.array_equal(np.array(png), expected[..., 0] if channels == 1 else expected)


def test_prompt_and_extra_pnginfo_become_text_chunks(engine, folders):
    prompt = save_prompt()
    (entry,) = run_ok(engine, prompt, extra_data={"extra_pnginfo": {"workflow": WORKFLOW, "note": "hi"}})
    with Image.open(folders.output / entry["filename"]) as png:
        png.load()
        assert json.loads(png.text["prompt"]) == prompt
        assert json.loads(png.text["workflow"]) == WORKFLOW
        assert json.loads(png.text["note"]) == "hi"
        chunk_types = {kind for kind, _ in _chunks(folders.output / entry["filename"])}
    assert b"tEXt" in chunk_types


def test_no_extra_pnginfo_writes_only_the_prompt(engine, folders):
    (entry,) = run_ok(engine, save_prompt())
    with Image.open(folders.output / entry["filename"]) as png:
        png.load()
        assert set(png.text) == {"prompt"}


def _chunks(path):
    data = path.read_bytes()[8:]
    while data:
        length = int.from_bytes(data[:4], "big")
        yield data[4:8], data[8:8 + length]
        data = data[12 + length:]


def test_counter_goes_on_across_runs_and_past_existing_files(engine, folders):
    assert [e["filename"] for e in run_ok(engine, save_prompt(seed=1))] == ["ComfyUI_00001_.png"]
    assert [e["filename"] for e in run_ok(engine, save_prompt(seed=2, batch=2))] == [
        "ComfyUI_00002_.png", "ComfyUI_00003_.png"]
    # a higher number left by someone else (and files of other prefixes or shapes) : counting goes on past it
    (folders.output / "ComfyUI_00041_.png").write_bytes(b"existing")
    (folders.output / "ComfyUI_00099_.webp").write_bytes(b"other format, same prefix")
    (folders.output / "Other_00500_.png").write_bytes(b"other prefix")
    (folders.output / "ComfyUI_notanumber.png").write_bytes(b"no number")
    assert [e["filename"] for e in run_ok(engine, save_prompt(seed=3))] == ["ComfyUI_00100_.png"]
    assert (folders.output / "ComfyUI_00041_.png").read_bytes() == b"existing"
    assert [e["filename"] for e in run_ok(engine, save_prompt(prefix="Other", seed=3))] == ["Other_00501_.png"]


def test_never_overwrites_a_name_taken_meanwhile(folders):
    from nodes.images.png_writer import png_info, write_png_exclusive

    (folders.output / "x_00001_.png").write_bytes(b"first")
    (folders.output / "x_00002_.png").write_bytes(b"second")
    pixels = expected_pixels(0, 1, 4, 4)[0]
    name, counter = write_png_exclusive(folders.output, lambda n: f"x_{n:05}_.png", 1, pixels, png_info(None, None), 4)
    assert (name, counter) == ("x_00003_.png", 3)
    assert (folders.output / "x_00001_.png").read_bytes() == b"first"
    assert (folders.output / "x_00002_.png").read_bytes() == b"second"
    assert sorted(os.listdir(folders.output)) == ["x_00001_.png", "x_00002_.png", "x_00003_.png"]


def test_prefix_with_subfolder(engine, folders):
    images = run_ok(engine, save_prompt(prefix="portraits/cat"))
    assert images == [{"filename": "cat_00001_.png", "subfolder": "portraits", "type": "output"}]
    assert (folders.output / "portraits" / "cat_00001_.png").is_file()
    assert run_ok(engine, save_prompt(prefix="portraits/cat", seed=9))[0]["filename"] == "cat_00002_.png"
    inner = run_ok(engine, save_prompt(prefix="a/b/../c/dog_%width%x%height%", width=5, height=4))
    assert inner == [{"filename": "dog_5x4_00001_.png", "subfolder": "a/c", "type": "output"}]


@pytest.mark.parametrize("prefix", ["../escape", "a/../../escape", "/tmp/absolute", "", "sub/.."])
def test_prefixes_that_leave_the_output_folder_are_refused_before_anything_runs(engine, folders, prefix):
    report = engine.validate(save_prompt(prefix=prefix))
    (error,) = report.node_errors["save"].errors
    assert error.type == "custom_validation_failed" and error.input_name == "filename_prefix"
    assert "output folder" in error.details or "names no file" in error.details or "empty" in error.details
    assert str(folders.base) not in error.details  # a remote client never learns server paths
    assert not list(folders.base.parent.glob("escape*"))
    assert not [p for p in folders.output.rglob("*") if p.is_file()]


def test_a_symlink_out_of_the_output_folder_is_refused(engine, folders, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    os.symlink(outside, folders.output / "link")
    (error,) = engine.validate(save_prompt(prefix="link/cat")).node_errors["save"].errors
    assert "outside the output folder" in error.details
    assert list(outside.iterdir()) == []


def test_a_symlink_made_after_validation_is_refused_when_saving(engine, folders, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    prompt = save_prompt(prefix="link/cat")
    report = engine.validate(prompt)
    assert report.ok
    os.symlink(outside, folders.output / "link")
    result = engine.execute(report, prompt)
    assert result.status == "error"
    assert "outside the output folder" in result.error.exception_message
    assert list(outside.iterdir()) == []


def test_a_symlink_that_stays_inside_is_allowed(engine, folders):
    (folders.output / "real").mkdir()
    os.symlink(folders.output / "real", folders.output / "alias")
    images = run_ok(engine, save_prompt(prefix="alias/cat"))
    assert images == [{"filename": "cat_00001_.png", "subfolder": "real", "type": "output"}]


def test_preview_image_goes_to_temp_with_a_random_suffix(engine, folders):
    prompt = {"src": source(seed=4), "save": {"class_type": "PreviewImage", "inputs": {"images": ["src", 0]}}}
    (entry,) = run_ok(engine, prompt)
    assert entry["type"] == "temp" and entry["subfolder"] == ""
    name = entry["filename"]
    assert name.startswith("ComfyUI_temp_") and name.endswith("_00001_.png") and len(name) == len("ComfyUI_temp_abcde_00001_.png")
    with Image.open(folders.temp / name) as png:
        assert np.array_equal(np.array(png), expected_pixels(4, 1, 8, 8)[0])
        png.load()
        assert json.loads(png.text["prompt"]) == prompt
    assert list(folders.output.iterdir()) == []


def test_saved_images_pass_on_to_the_next_node(engine, folders):
    prompt = save_prompt(prefix="first", seed=5, batch=2)
    prompt["again"] = {"class_type": "SaveImage", "inputs": {"images": ["save", 0], "filename_prefix": "second"}}
    result = engine.run(prompt)
    assert result.ok, result.error
    for name in ("first", "second"):
        for index, pixels in enumerate(expected_pixels(5, 2, 8, 8)):
            with Image.open(folders.output / f"{name}_{index + 1:05}_.png") as png:
                assert np.array_equal(np.asarray(png), pixels)


@pytest.fixture
def umask():
    """Set the process's umask for one test (as a shell's `umask` would), then put the previous one back."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_and_previewed_images_get_the_usual_mode_for_new_files(engine, folders, umask, mask, mode):
    """0666 less the umask, as ComfyUI and any image tool give: others may read them unless the umask says no."""
    umask(mask)
    (entry,) = run_ok(engine, save_prompt())
    assert os.stat(folders.output / entry["filename"]).st_mode & 0o777 == mode
    prompt = {"src": source(0, 1, 8, 8), "save": {"class_type": "PreviewImage", "inputs": {"images": ["src", 0]}}}
    (preview,) = run_ok(engine, prompt)
    assert os.stat(folders.temp / preview["filename"]).st_mode & 0o777 == mode


def test_an_image_without_pixels_is_refused_with_its_size_before_any_encoding():
    import torch

    from graph_engine import InvalidNodeInput
    from nodes.images.conversion import to_uint8_batch

    for images, size in ((torch.zeros(1, 0, 7, 3), "7x0"), (torch.zeros(2, 5, 0, 3), "0x5")):
        with pytest.raises(InvalidNodeInput, match=f"{size} pixels: there is nothing to save"):
            to_uint8_batch(images)
