"""ComfyUI's mask compositing template (`comfyui-workflow-templates-json`) converted and run through the engine, each
preview checked against the same graph computed here with numpy from the template's own widget values."""
from __future__ import annotations

import json
from pathlib import Path

import comfyui_workflow_templates_json  # a declared test dependency (pyproject: test extras)
import numpy as np
import pytest
from PIL import Image

from graph_engine import Engine, Folders, ui_to_api
from tests.fixtures.registries import builtin_registry

TEMPLATE = Path(comfyui_workflow_templates_json.__file__).parent / "templates" / \
    "basic_mask_operations_and_compositing.json"
SHRINK = 8  # 1024 px images become 128 px; every size, offset and feather width the template sets divides by 8
# The widgets of each class, in the editor's order, and which of them are pixel sizes or offsets.
WIDGETS = {"EmptyImage": ["width", "height", "batch_size", "color"], "SolidMask": ["value", "width", "height"],
           "MaskComposite": ["x", "y", "operation"], "FeatherMask": ["left", "top", "right", "bottom"],
           "ImageCompositeMasked": ["x", "y", "resize_source"], "ThresholdMask": ["value"],
           "ImageToMask": ["channel"], "LoadImage": ["image"]}
PIXEL_WIDGETS = {"width", "height", "x", "y", "left", "top", "right", "bottom"}
BLACK_IMAGE = "1"  # the EmptyImage the masks start from (colour 0)
NEAR_THRESHOLD_RED = 105 << 16 | 40 << 8 | 200  # red 105/255 = 0.4118, just over ThresholdMask's 0.41 (104 is under)


def template_workflow() -> dict:
    return json.loads(TEMPLATE.read_text(encoding="utf-8"))


def shrunk(prompt: dict) -> dict:
    for node in prompt.values():
        for name in PIXEL_WIDGETS & node["inputs"].keys():
            node["inputs"][name] //= SHRINK
    return prompt


# Each node as ComfyUI computes it (comfy_extras/nodes_mask.py, nodes.py), written with numpy. Masks are
# [batch, height, width], images [batch, height, width, 3].
def empty_image(width, height, batch_size, color):
    rgb = np.array([(color >> 16) & 255, (color >> 8) & 255, color & 255], dtype=np.float64) / 255
    return np.broadcast_to(rgb, (batch_size, height, width, 3)).copy()


def solid_mask(value, width, height):
    return np.full((1, height, width), float(value))


def image_to_mask(image, channel):
    return image[..., ["red", "green", "blue", "alpha"].index(channel)]


def threshold_mask(mask, value):
    return (mask > value).astype(np.float64)


def invert_mask(mask):
    return 1.0 - mask


def mask_to_image(mask):
    return np.repeat(mask[..., None], 3, axis=-1)


def mask_composite(destination, source, x, y, operation):
    """The source laid on the destination at (x, y), cut at the destination's edge; the logical operations see each
    value rounded half to even (0.5 counts as off), and the result is clamped to 0..1."""
    out = destination.copy()
    height, width = min(source.shape[1], out.shape[1] - y), min(source.shape[2], out.shape[2] - x)
    under, over = out[:, y:y + height, x:x + width], source[:, :height, :width]
    on = lambda values: np.round(values) != 0  # noqa: E731
    combined = {"multiply": lambda: under * over, "add": lambda: under + over, "subtract": lambda: under - over,
                "and": lambda: on(under) & on(over), "or": lambda: on(under) | on(over),
                "xor": lambda: on(under) ^ on(over)}[operation]()
    out[:, y:y + height, x:x + width] = combined
    return np.clip(out, 0.0, 1.0)


def feather_mask(mask, left, top, right, bottom):
    """Linear ramps in from each edge: the n-th column or row (from 1) of a ramp w wide is scaled by n / w."""
    height, width = mask.shape[1:]
    return mask * edge_ramps(width, left, right)[None, None, :] * edge_ramps(height, top, bottom)[None, :, None]


def edge_ramps(length: int, start: int, end: int) -> np.ndarray:
    ramps = np.ones(length)
    start, end = min(start, length), min(end, length)
    if start:
        ramps[:start] *= np.arange(1, start + 1) / start
    if end:
        ramps[length - end:] *= np.arange(end, 0, -1) / end
    return ramps


def image_composite_masked(destination, source, x, y, resize_source, mask):
    assert not resize_source and source.shape == destination.shape and mask.shape[1:] == source.shape[1:3]
    out = destination.copy()
    height, width = out.shape[1] - y, out.shape[2] - x
    weight = mask[:, :height, :width, None]
    out[:, y:, x:] = weight * source[:, :height, :width] + (1 - weight) * destination[:, y:, x:]
    return out


NUMPY_NODES = {"EmptyImage": empty_image, "SolidMask": solid_mask, "ImageToMask": image_to_mask,
               "ThresholdMask": threshold_mask, "InvertMask": invert_mask, "MaskToImage": mask_to_image,
               "MaskComposite": mask_composite, "FeatherMask": feather_mask,
               "ImageCompositeMasked": image_composite_masked}


def computed(prompt: dict, node_id: str, known: dict) -> np.ndarray:
    """The node's value by NUMPY_NODES, its linked inputs computed first."""
    if node_id not in known:
        node = prompt[node_id]
        inputs = {name: computed(prompt, value[0], known) if isinstance(value, list) else value
                  for name, value in node["inputs"].items()}
        known[node_id] = NUMPY_NODES[node["class_type"]](**inputs)
    return known[node_id]


@pytest.fixture
def engine(tmp_path) -> Engine:
    folders = Folders.under(tmp_path)
    folders.create()
    return Engine(builtin_registry(folders), folders)


def converted(engine: Engine) -> dict:
    return shrunk(ui_to_api(template_workflow(), engine.registry))


def test_the_converted_prompt_carries_the_template_widget_values(engine):
    prompt = ui_to_api(template_workflow(), engine.registry)
    editor_nodes = {str(node["id"]): node for node in template_workflow()["nodes"] if node["type"] in WIDGETS}
    assert editor_nodes.keys() <= prompt.keys()
    for node_id, node in editor_nodes.items():
        widgets = {name: prompt[node_id]["inputs"][name] for name in WIDGETS[node["type"]]}
        assert list(widgets.values()) == node["widgets_values"][:len(widgets)], node_id
    operations = sorted(node["inputs"]["operation"] for node in prompt.values()
                        if node["class_type"] == "MaskComposite")
    assert operations == ["add", "add", "add", "and", "multiply", "or", "xor"]
    assert all(value % SHRINK == 0 for node in prompt.values() for name, value in node["inputs"].items()
               if name in PIXEL_WIDGETS)


@pytest.mark.parametrize("first_colour", [None, NEAR_THRESHOLD_RED], ids=["as-published", "red-near-threshold"])
def test_every_preview_equals_the_graph_computed_with_numpy(engine, first_colour):
    """As published, the masks start from a black image; the second run starts them from a red just over the
    threshold, so that ImageToMask, ThresholdMask, InvertMask and the composite's destination see other values."""
    # The template's LoadImage is wired to nothing; its picture is there all the same, as a user would have it.
    Image.fromarray(np.zeros((24, 32, 3), dtype=np.uint8)).save(engine.folders.input / "example.png")
    prompt = converted(engine)
    if first_colour is not None:
        prompt[BLACK_IMAGE]["inputs"]["color"] = first_colour
    result = engine.run(prompt)
    assert result.status == "success", result.error
    previews = {node_id: node for node_id, node in prompt.items()
                if node["class_type"] in ("PreviewImage", "MaskPreview")}
    assert len(previews) == 18 and previews.keys() <= result.outputs.keys()
    known: dict = {}
    for node_id, node in previews.items():
        source = next(iter(node["inputs"].values()))[0]
        expected = computed(prompt, source, known)
        if node["class_type"] == "MaskPreview":
            expected = mask_to_image(expected)
        (saved,) = result.outputs[node_id]["images"]
        assert saved["type"] == "temp"
        with Image.open(engine.folders.temp / saved["subfolder"] / saved["filename"]) as png:
            shown = np.asarray(png.convert("RGB"), dtype=np.float64)
        assert shown.shape == expected[0].shape, node_id
        # A preview stores 255 * value cut to an integer; float32 arithmetic may move 255 * value by a hair.
        assert np.all(shown <= 255 * expected[0] + 1e-3) and np.all(shown > 255 * expected[0] - 1 - 1e-3), node_id
    # The graph is not trivial: the composites and feathers make 0.5 grey, full squares and ramps.
    assert {0.5, 1.0} <= set(np.unique(known["383"])) and len(np.unique(known["394"])) > 5
