"""SaveAnimatedPNG and SaveAnimatedWEBP through the engine: one file of all frames, read back with Pillow, with the
workflow where ComfyUI puts it."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageSequence

from tests.nodes.images.image_helpers import make_images, png_chunks, source

WORKFLOW = {"last_node_id": 2, "nodes": [], "links": [], "version": 0.4}


def expected_frames(seed, batch, height, width, channels=3):
    return np.clip(255.0 * make_images(seed, batch, height, width, channels).numpy(), 0, 255).astype(np.uint8)


def saver(class_type: str, batch: int, **inputs) -> dict:
    return {"src": source(seed=9, batch=batch, height=5, width=6),
            "save": {"class_type": class_type, "inputs": {"images": ["src", 0], "filename_prefix": "anim/clip",
                                                          "fps": 8.0, **inputs}}}


def run_saver(engine, prompt: dict) -> dict:
    result = engine.run(prompt, extra_data={"extra_pnginfo": {"workflow": WORKFLOW}})
    assert result.ok, result.error
    return result.outputs["save"]


def test_animated_png_holds_every_frame_and_the_workflow_after_the_image_data(engine, folders):
    prompt = saver("SaveAnimatedPNG", batch=3, compress_level=9)
    ui = run_saver(engine, prompt)
    assert ui == {"images": [{"filename": "clip_00001_.png", "subfolder": "anim", "type": "output"}],
                  "animated": [True]}
    path = folders.output / "anim" / "clip_00001_.png"
    with Image.open(path) as apng:
        assert apng.n_frames == 3 and apng.size == (6, 5)
        frames = [np.array(frame.convert("RGB")) for frame in ImageSequence.Iterator(apng)]
        assert apng.info["duration"] == 125  # 1000 / 8 fps
    assert np.array_equal(np.stack(frames), expected_frames(9, 3, 5, 6))
    chunks = png_chunks(path.read_bytes())
    kinds = [kind for kind, _ in chunks]
    assert kinds.count(b"fcTL") == 3 and kinds.index(b"comf") > kinds.index(b"IDAT")
    comf = dict(body.split(b"\0", 1) for kind, body in chunks if kind == b"comf")
    assert json.loads(comf[b"prompt"]) == prompt and json.loads(comf[b"workflow"]) == WORKFLOW


def test_one_frame_is_not_flagged_animated_and_the_counter_goes_on(engine, folders):
    first = run_saver(engine, saver("SaveAnimatedPNG", batch=1, compress_level=4))
    second = run_saver(engine, saver("SaveAnimatedPNG", batch=1, compress_level=5))  # not the cached run
    assert "animated" not in first and first["images"][0]["filename"] == "clip_00001_.png"
    assert second["images"][0]["filename"] == "clip_00002_.png"


@pytest.mark.parametrize("method", ["default", "fastest", "slowest"])
def test_lossless_animated_webp_keeps_every_pixel_and_the_workflow_in_exif(engine, folders, method):
    prompt = saver("SaveAnimatedWEBP", batch=2, lossless=True, quality=80, method=method)
    ui = run_saver(engine, prompt)
    assert ui["images"] == [{"filename": "clip_00001_.webp", "subfolder": "anim", "type": "output"}]
    assert ui["animated"] == [True]
    with Image.open(folders.output / "anim" / "clip_00001_.webp") as webp:
        assert webp.format == "WEBP" and webp.n_frames == 2
        frames = [np.array(frame.convert("RGB")) for frame in ImageSequence.Iterator(webp)]
        exif = webp.getexif()
    assert np.array_equal(np.stack(frames), expected_frames(9, 2, 5, 6))
    assert exif[0x0110] == "prompt:" + json.dumps(prompt)
    assert exif[0x010F] == "workflow:" + json.dumps(WORKFLOW)


def test_lossy_webp_is_close_and_a_bad_prefix_is_refused(engine, folders):
    prompt = {"src": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 2,
                                                             "color": 0x336699}},
              "save": {"class_type": "SaveAnimatedWEBP", "inputs": {
                  "images": ["src", 0], "filename_prefix": "flat", "fps": 2.0, "lossless": False, "quality": 90,
                  "method": "default"}}}
    run_saver(engine, prompt)
    with Image.open(folders.output / "flat_00001_.webp") as webp:
        assert webp.format == "WEBP"  # (libwebp merges the two equal frames into one shown for 1 second)
        pixels = np.array(webp.convert("RGB")).astype(int)
    assert np.abs(pixels - np.array([0x33, 0x66, 0x99])).max() <= 3
    refused = engine.validate(saver("SaveAnimatedWEBP", batch=1, lossless=True, quality=80, method="default")
                              | {"save": {"class_type": "SaveAnimatedWEBP", "inputs": {
                                  "images": ["src", 0], "filename_prefix": "../out", "fps": 6.0, "lossless": True,
                                  "quality": 80, "method": "default"}}})
    (error,) = refused.node_errors["save"].errors
    assert "outside the output folder" in error.details
