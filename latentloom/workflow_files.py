"""Every workflow file a user holds, read into the API format that runs: API or editor JSON, and images carrying a
ComfyUI workflow or an AUTOMATIC1111 `parameters` text."""
from __future__ import annotations

import json
from pathlib import Path

from graph_engine import Folders, NodeRegistry, WorkflowFormatError, read_workflow_file, to_api_format
from graph_engine.workflow import looks_like_ui_format
from graph_engine.workflow_images import looks_like_image, read_image_texts, workflow_from_image_texts


def read_any_workflow(path: str | Path, registry: NodeRegistry, folders: Folders) -> dict:
    """The API-format prompt in `path`; WorkflowFormatError names the file and what is wrong with it. An A1111
    image's settings name the model files of the installation `folders`."""
    path = Path(path)
    try:
        is_image = path.is_file() and looks_like_image(path)
    except OSError as exc:
        raise WorkflowFormatError(f"{path}: cannot be read ({exc})") from None
    if not is_image:
        return read_workflow_file(path, registry=registry)
    from nodes.a1111 import prompt_from_parameters

    texts = read_image_texts(path)
    try:
        return workflow_from_image_texts(texts, lambda data: to_api_format(data, registry=registry),
                                         {"parameters": lambda text: prompt_from_parameters(text, folders)})
    except WorkflowFormatError as exc:
        raise WorkflowFormatError(f"{path}: {exc}") from None


def is_api_format_file(path: str | Path) -> bool:
    """True for a JSON file already in the API format (not an image, not the editor's form)."""
    path = Path(path)
    if looks_like_image(path):
        return False
    try:
        return not looks_like_ui_format(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
