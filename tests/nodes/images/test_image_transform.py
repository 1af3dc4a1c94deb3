"""ImageCrop, ImageCropV2 with PrimitiveBoundingBox, ImageFlip and ImageRotate on hand-made pixels."""
from __future__ import annotations

import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.images import NODE_CLASS_MAPPINGS
from tests.nodes.images.image_helpers import make_images, run_and_capture, source


def numbered(height: int, width: int):
    """A 1-image batch whose pixel (row, column) holds 10 * row + column in every channel."""
    values = torch.tensor([[10.0 * r + c for c in range(width)] for r in range(height)])
    return values[None, :, :, None].expand(1, height, width, 3).contiguous()


def node(name):
    return NODE_CLASS_MAPPINGS[name]()


def test_crop_keeps_the_region_and_clips_what_runs_off(engine):
    prompt = {"src": source(seed=2, batch=2, height=6, width=7),
              "crop": {"class_type": "ImageCrop", "inputs": {"image": ["src", 0], "width": 3, "height": 10,
                                                            "x": 2, "y": 4}}}
    cropped = run_and_capture(engine, prompt, "crop")
    assert torch.equal(cropped, make_images(2, 2, 6, 7)[:, 4:6, 2:5])


def test_crop_starting_past_the_edge_keeps_the_last_row_and_column():
    (cropped,) = node("ImageCrop").crop(numbered(3, 4), width=2, height=2, x=50, y=50)
    assert cropped[0, ..., 0].tolist() == [[23.0]]


def test_crop_v2_takes_a_bounding_box_from_its_widget_or_a_primitive(engine):
    box = {"x": 1, "y": 0, "width": 2, "height": 2}
    prompt = {"src": source(seed=4, height=5, width=5),
              "crop": {"class_type": "ImageCropV2", "inputs": {"image": ["src", 0], "crop_region": box}}}
    assert torch.equal(run_and_capture(engine, prompt, "crop"), make_images(4, 1, 5, 5)[:, 0:2, 1:3])
    prompt["box"] = {"class_type": "PrimitiveBoundingBox", "inputs": {"x": 3, "y": 2, "width": 9, "height": 1}}
    prompt["crop"]["inputs"]["crop_region"] = ["box", 0]
    assert run_and_capture(engine, prompt, "box") == {"x": 3, "y": 2, "width": 9, "height": 1}
    assert torch.equal(run_and_capture(engine, prompt, "crop"), make_images(4, 1, 5, 5)[:, 2:3, 3:5])


def test_crop_v2_refuses_a_box_it_cannot_read():
    with pytest.raises(InvalidNodeInput, match="crop_region: width"):
        node("ImageCropV2").crop(numbered(2, 2), {"x": 0, "y": 0, "width": 0, "height": 1})
    with pytest.raises(InvalidNodeInput, match="crop_region must be a bounding box"):
        node("ImageCropV2").crop(numbered(2, 2), [0, 0, 1, 1])


def test_flip_turns_upside_down_or_mirrors():
    image = numbered(2, 3)
    (upside_down,) = node("ImageFlip").flip(image, "x-axis: vertically")
    (mirrored,) = node("ImageFlip").flip(image, "y-axis: horizontally")
    assert upside_down[0, ..., 0].tolist() == [[10.0, 11.0, 12.0], [0.0, 1.0, 2.0]]
    assert mirrored[0, ..., 0].tolist() == [[2.0, 1.0, 0.0], [12.0, 11.0, 10.0]]


@pytest.mark.parametrize("rotation, expected", [
    ("none", [[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]]),
    ("90 degrees", [[10.0, 0.0], [11.0, 1.0], [12.0, 2.0]]),  # clockwise: the left column becomes the top row
    ("180 degrees", [[12.0, 11.0, 10.0], [2.0, 1.0, 0.0]]),
    ("270 degrees", [[2.0, 12.0], [1.0, 11.0], [0.0, 10.0]]),
])
def test_rotate_turns_clockwise(engine, rotation, expected):
    (turned,) = node("ImageRotate").rotate(numbered(2, 3), rotation)
    assert turned[0, ..., 0].tolist() == expected


def test_an_editor_workflow_gives_socketless_widgets_their_values():
    """ComfyUI's editor saves a BOUNDING_BOX or COLOR widget's value in widgets_values like any other widget."""
    from graph_engine import ui_to_api
    from tests.fixtures.registries import builtin_registry

    workflow = {"nodes": [
        {"id": 1, "type": "EmptyImage", "inputs": [], "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
         "widgets_values": [8, 8, 1, 0]},
        {"id": 2, "type": "ImageCropV2", "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []}],
         "widgets_values": [{"x": 1, "y": 2, "width": 3, "height": 4}]},
        {"id": 3, "type": "ImageCropToMask", "inputs": [], "outputs": [],
         "widgets_values": [64, 128, 1.5, -2, "#ff0000"]},
    ], "links": [[1, 1, 0, 2, 0, "IMAGE"]]}
    prompt = ui_to_api(workflow, builtin_registry())
    assert prompt["2"]["inputs"]["crop_region"] == {"x": 1, "y": 2, "width": 3, "height": 4}
    assert {k: prompt["3"]["inputs"][k] for k in ("width", "height", "pad_factor", "grow_mask", "background")} == {
        "width": 64, "height": 128, "pad_factor": 1.5, "grow_mask": -2, "background": "#ff0000"}
