"""SaveSVGNode through the engine: each document to a file, the workflow in a <metadata> element, read back as XML."""
from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ElementTree

import pytest

from graph_engine import Engine, InvalidNodeInput
from nodes.images.svg import svg_documents, with_metadata
from tests.fixtures.registries import builtin_registry

SQUARE = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'
CIRCLE = '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>'
WORKFLOW = {"nodes": [], "links": [], "note": "ends with ]]> inside"}


class SVG:
    """ComfyUI's SVG value: documents as BytesIO in `data`."""

    def __init__(self, documents):
        self.data = [io.BytesIO(text.encode("utf-8")) for text in documents]


class SvgSource:
    CATEGORY = "testing"
    RETURN_TYPES = ("SVG",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 1, "min": 1, "max": 2})}}

    def make(self, count):
        return (SVG([SQUARE, CIRCLE][:count]),)


@pytest.fixture
def svg_engine(folders) -> Engine:
    return Engine(builtin_registry(folders, {"SvgSource": SvgSource}), folders)


def save_prompt(count=2, prefix="svg/ComfyUI") -> dict:
    return {"src": {"class_type": "SvgSource", "inputs": {"count": count}},
            "save": {"class_type": "SaveSVGNode", "inputs": {"svg": ["src", 0], "filename_prefix": prefix}}}


def metadata_of(text: str) -> dict:
    root = ElementTree.fromstring(text.split("?>", 1)[-1] if text.startswith("<?xml") else text)
    (metadata,) = root.findall("{http://www.w3.org/2000/svg}metadata")
    return json.loads(metadata.text)


def test_each_document_is_saved_with_the_workflow_inside(svg_engine, folders):
    prompt = save_prompt()
    result = svg_engine.run(prompt, extra_data={"extra_pnginfo": {"workflow": WORKFLOW}})
    assert result.ok, result.error
    assert result.outputs["save"]["images"] == [
        {"filename": "ComfyUI_00001_.svg", "subfolder": "svg", "type": "output"},
        {"filename": "ComfyUI_00002_.svg", "subfolder": "svg", "type": "output"}]
    square = (folders.output / "svg" / "ComfyUI_00001_.svg").read_text("utf-8")
    circle = (folders.output / "svg" / "ComfyUI_00002_.svg").read_text("utf-8")
    assert metadata_of(square) == {"prompt": prompt, "workflow": WORKFLOW}
    assert metadata_of(circle) == {"prompt": prompt, "workflow": WORKFLOW}
    assert square.endswith('<rect width="4" height="4"/></svg>') and circle.startswith('<?xml version="1.0"?>')


def test_documents_given_as_text_and_bad_values():
    assert svg_documents(SQUARE) == [SQUARE] and svg_documents([SQUARE.encode(), CIRCLE]) == [SQUARE, CIRCLE]
    assert with_metadata(SQUARE, None, None) == SQUARE
    with pytest.raises(InvalidNodeInput, match="svg must be SVG documents"):
        svg_documents(42)
    with pytest.raises(InvalidNodeInput, match="not an SVG document"):
        svg_documents([SQUARE, 3])


def test_a_prefix_leaving_the_output_folder_is_refused(svg_engine):
    (error,) = svg_engine.validate(save_prompt(prefix="../x")).node_errors["save"].errors
    assert "outside the output folder" in error.details
