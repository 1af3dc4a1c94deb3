"""SaveImageAdvanced through the engine: 8- and 16-bit PNG read back with Pillow and by hand, OpenEXR parsed here
by its specification, with the transfer functions worked out here in numpy and the metadata where ComfyUI puts it."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from PIL import Image

from tests.nodes.images.image_helpers import decoded_png, make_images, png_chunks, source

WORKFLOW = {"last_node_id": 2, "nodes": [], "links": [], "version": 0.4}


def run_saver(engine, fmt: str, bit_depth: str, colour_space: str = "sRGB", batch: int = 1, channels: int = 3,
              prefix: str = "adv/img"):
    prompt = {"src": source(seed=4, batch=batch, height=5, width=6, channels=channels),
              "save": {"class_type": "SaveImageAdvanced",
                       "inputs": {"images": ["src", 0], "filename_prefix": prefix, "format": fmt,
                                  "format.bit_depth": bit_depth, "format.input_color_space": colour_space}}}
    return engine.run(prompt, extra_data={"extra_pnginfo": {"workflow": WORKFLOW}}), prompt


def pixels(batch: int = 1, channels: int = 3) -> np.ndarray:
    return make_images(4, batch, 5, 6, channels).numpy().astype(np.float64)


def test_8_bit_png_per_image_with_the_prompt_and_workflow_after_the_header(engine, folders):
    result, prompt = run_saver(engine, "png", "8-bit", batch=2)
    assert result.ok, result.error
    assert result.outputs["save"] == {"images": [{"filename": f"img_0000{n}.png", "subfolder": "adv",
                                                  "type": "output"} for n in (1, 2)]}
    expected = np.clip(pixels(2) * 255, 0, 255).astype(np.uint8)  # truncated, as ComfyUI quantizes
    for n in (0, 1):
        path = folders.output / "adv" / f"img_0000{n + 1}.png"
        with Image.open(path) as image:
            assert image.mode == "RGB" and np.array_equal(np.array(image), expected[n])
            assert json.loads(image.info["workflow"]) == WORKFLOW
            assert json.loads(image.info["prompt"])["save"]["inputs"]["format"] == "png"
        kinds = [kind for kind, _ in png_chunks(path.read_bytes())]
        assert kinds[:3] == [b"IHDR", b"tEXt", b"tEXt"] and kinds[-1] == b"IEND"


@pytest.mark.parametrize("channels, colour", [(4, 6), (1, 0), (3, 2)])
def test_16_bit_png_keeps_every_sample_at_full_scale(engine, folders, channels, colour):
    result, _ = run_saver(engine, "png", "16-bit", channels=channels)
    assert result.ok, result.error
    data = (folders.output / "adv" / "img_00001.png").read_bytes()
    header, got = decoded_png(data)
    expected = np.clip(pixels(channels=channels)[0] * 65535, 0, 65535).astype(np.uint16)
    assert header == {"depth": 16, "colour": colour} and np.array_equal(got, expected)
    with Image.open(folders.output / "adv" / "img_00001.png") as image:  # a second decoder agrees
        image.load()
        if channels == 1:
            assert np.array_equal(np.array(image).astype(np.uint16), expected[..., 0])
        else:  # Pillow keeps the high byte of 16-bit colour
            assert np.array_equal(np.array(image), (expected >> 8).astype(np.uint8))
        assert json.loads(image.info["workflow"]) == WORKFLOW


def parse_exr(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Header attributes (name -> (type, bytes)) and the channels of an uncompressed scanline OpenEXR file."""
    assert data[:4] == b"\x76\x2f\x31\x01" and struct.unpack("<I", data[4:8])[0] & 0xFF == 2
    attributes, position = {}, 8
    while data[position] != 0:
        name_end = data.index(b"\x00", position)
        type_end = data.index(b"\x00", name_end + 1)
        (size,) = struct.unpack("<i", data[type_end + 1:type_end + 5])
        attributes[data[position:name_end].decode()] = (data[name_end + 1:type_end].decode(),
                                                        data[type_end + 5:type_end + 5 + size])
        position = type_end + 5 + size
    position += 1
    names, listing = [], attributes["channels"][1]
    while listing[0] != 0:
        end = listing.index(b"\x00")
        pixel_type, _, x_sampling, y_sampling = struct.unpack("<iB3xii", listing[end + 1:end + 17])
        assert (pixel_type, x_sampling, y_sampling) == (2, 1, 1)  # FLOAT, full resolution
        names.append(listing[:end].decode())
        listing = listing[end + 17:]
    x_min, y_min, x_max, y_max = struct.unpack("<iiii", attributes["dataWindow"][1])
    width, height = x_max - x_min + 1, y_max - y_min + 1
    offsets = struct.unpack(f"<{height}Q", data[position:position + 8 * height])
    planes = {name: np.zeros((height, width), np.float32) for name in names}
    for offset in offsets:
        y, size = struct.unpack("<ii", data[offset:offset + 8])
        assert size == 4 * width * len(names)
        row = np.frombuffer(data[offset + 8:offset + 8 + size], "<f4").reshape(len(names), width)
        for name, values in zip(names, row):
            planes[name][y - y_min] = values
    return attributes, planes


def srgb_decoded(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((np.maximum(v, 0) + 0.055) / 1.055) ** 2.4)


def hlg_decoded(v: np.ndarray) -> np.ndarray:
    a = 0.17883277
    b, c = 1 - 4 * a, 0.5 - a * np.log(4 * a)
    return np.where(v <= 0.5, v * v / 3, (np.exp((np.maximum(v, 0.5) - c) / a) + b) / 12)


@pytest.mark.parametrize("colour_space, decode, primaries", [
    ("sRGB", srgb_decoded, (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)),
    ("HDR", hlg_decoded, (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290)),
    ("linear", lambda v: v, (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290))])
def test_exr_holds_scene_linear_float_channels_alpha_unchanged(engine, folders, colour_space, decode, primaries):
    result, _ = run_saver(engine, "exr", "32-bit float", colour_space, channels=4)
    assert result.ok, result.error
    assert result.outputs["save"]["images"][0]["filename"] == "img_00001.exr"
    attributes, planes = parse_exr((folders.output / "adv" / "img_00001.exr").read_bytes())
    assert list(planes) == ["A", "B", "G", "R"]  # alphabetical, as the format requires
    assert attributes["compression"] == ("compression", b"\x00")
    assert struct.unpack("<8f", attributes["chromaticities"][1]) == pytest.approx(primaries, abs=1e-6)
    assert json.loads(attributes["workflow"][1]) == WORKFLOW and attributes["workflow"][0] == "string"
    assert json.loads(attributes["prompt"][1])["save"]["inputs"]["format.input_color_space"] == colour_space
    image = pixels(channels=4)[0]  # first row holds -0.5 and 1.5 in red: no clamping
    for index, name in enumerate("RGB"):
        np.testing.assert_allclose(planes[name], decode(image[..., index]), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(planes["A"], image[..., 3], rtol=0, atol=1e-7)
    assert planes["R"][0, 1] > 1.0


def test_grey_exr_is_a_single_luminance_channel(engine, folders):
    result, _ = run_saver(engine, "exr", "32-bit float", "linear", channels=1)
    assert result.ok, result.error
    _, planes = parse_exr((folders.output / "adv" / "img_00001.exr").read_bytes())
    assert list(planes) == ["Y"]
    np.testing.assert_allclose(planes["Y"], pixels(channels=1)[0, ..., 0], atol=1e-7)


def test_two_channel_images_are_refused_by_name(engine):
    result, _ = run_saver(engine, "png", "8-bit", channels=2)
    assert not result.ok and "images must be an IMAGE" in str(result.error)


def test_an_option_of_the_other_format_is_refused(engine):
    from graph_engine import WorkflowInvalid

    with pytest.raises(WorkflowInvalid):
        run_saver(engine, "png", "32-bit float")


def test_an_image_without_pixels_is_refused_with_its_size():
    import torch

    from graph_engine import InvalidNodeInput
    from nodes.images.save_advanced import image_frames

    with pytest.raises(InvalidNodeInput, match="6x0 pixels: there is nothing to save"):
        image_frames(torch.zeros(1, 0, 6, 3))
