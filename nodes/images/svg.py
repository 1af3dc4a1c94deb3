"""SaveSVGNode (ComfyUI's comfy_extras.nodes_images): SVG documents to files in the output folder, the workflow in a
<metadata> element.

An SVG value is ComfyUI's: an object whose `data` is a list of documents (BytesIO or bytes); a plain string, bytes,
or a list of them is taken as well, for plugins that pass SVG text.
"""
from __future__ import annotations

import io
import json
import re
from typing import Any

from graph_engine import InvalidNodeInput, current_folders

from .naming import file_name, prefix_validation, save_target
from .save import folders_of_run

PYTHON_MODULE = "comfy_extras.nodes_images"
SVG_OPENING = re.compile(r"<svg[^>]*>")


def svg_documents(svg: Any) -> list[str]:
    """The SVG texts of an SVG value."""
    items = getattr(svg, "data", svg)
    if isinstance(items, (str, bytes, io.IOBase)):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise InvalidNodeInput(f"svg must be SVG documents (ComfyUI's SVG type), got {type(svg).__name__}")
    documents = []
    for item in items:
        if isinstance(item, io.IOBase):
            item.seek(0)
            item = item.read()
        if isinstance(item, bytes):
            item = item.decode("utf-8")
        if not isinstance(item, str):
            raise InvalidNodeInput(f"svg holds a {type(item).__name__}, not an SVG document")
        documents.append(item)
    return documents


def with_metadata(document: str, prompt: Any, extra_pnginfo: Any) -> str:
    """The document with the prompt and extra_pnginfo as JSON in a <metadata> element after its opening <svg> tag."""
    metadata = {**({"prompt": prompt} if prompt is not None else {}),
                **(extra_pnginfo if isinstance(extra_pnginfo, dict) else {})}
    if not metadata:
        return document
    text = json.dumps(metadata, indent=2).replace("]]>", "]]]]><![CDATA[>")  # nothing may close the CDATA early
    element = f"\n  <metadata>\n    <![CDATA[\n{text}\n    ]]>\n  </metadata>\n"
    return SVG_OPENING.sub(lambda opening: opening.group(0) + element, document, count=1)


class SaveSVGNode:
    CATEGORY = "image"
    RETURN_TYPES = ("SVG",)
    RETURN_NAMES = ("svg",)
    FUNCTION = "save_svg"
    OUTPUT_NODE = True
    DESCRIPTION = "Save SVG files on disk."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "svg": ("SVG",),
            "filename_prefix": ("STRING", {
                "default": "svg/ComfyUI", "multiline": False,
                "tooltip": "The prefix for the file to save. It may name a subfolder and use %width%, %height%, "
                           "%year%, %month%, %day% and %batch_num%."}),
        }, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    @classmethod
    def VALIDATE_INPUTS(cls, filename_prefix=None):
        return prefix_validation(filename_prefix, current_folders().output)

    def save_svg(self, svg, filename_prefix: str = "svg/ComfyUI", prompt=None, extra_pnginfo=None) -> dict:
        from .png_writer import write_exclusive

        target = save_target(folders_of_run().output, filename_prefix)
        counter, results = target.counter, []
        for batch_number, document in enumerate(svg_documents(svg)):
            content = with_metadata(document, prompt, extra_pnginfo).encode("utf-8")
            name, counter = write_exclusive(target.folder, lambda n, b=batch_number: file_name(target.name, b, n,
                                                                                                  "_.svg"),
                                            counter, lambda stream, c=content: stream.write(c), ".svg.tmp")
            results.append({"filename": name, "subfolder": target.subfolder, "type": "output"})
            counter += 1
        return {"ui": {"images": results}, "result": (svg,)}


NODE_CLASS_MAPPINGS = {"SaveSVGNode": SaveSVGNode}
NODE_DISPLAY_NAME_MAPPINGS = {"SaveSVGNode": "Save SVG"}
