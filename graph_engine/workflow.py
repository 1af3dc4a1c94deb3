"""Reading workflow files: ComfyUI's API format now, a seam for the editor (UI) format."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

Prompt = dict[str, Any]  # API format: {node_id: {"class_type", "inputs", "_meta"?}}


class WorkflowFormatError(ValueError):
    """A file or value that is not a workflow we can read."""


def looks_like_ui_format(data: Any) -> bool:
    """The editor saves {"nodes": [...], "links": [...]}; the API format maps ids to nodes."""
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def _reject_ui_format(data: dict) -> Prompt:
    raise WorkflowFormatError(
        "this is an editor (UI format) workflow, which cannot be run yet; "
        "in ComfyUI use 'Export (API)' and run that file")


# Converters from other workflow formats to the API format, tried in order.
CONVERTERS: list[tuple[Callable[[Any], bool], Callable[[Any], Prompt]]] = [
    (looks_like_ui_format, _reject_ui_format),
]


def to_api_format(data: Any) -> Prompt:
    """Return the API-format prompt for a decoded workflow, converting other formats when a converter knows them."""
    for detect, convert in CONVERTERS:
        if detect(data):
            return convert(data)
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict) and "class_type" not in data:
        # the body of a /prompt request saved to a file
        return data["prompt"]
    return data


def read_workflow_file(path: str | Path) -> Prompt:
    """Read a workflow file; errors name the file and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkflowFormatError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowFormatError(f"{path}: cannot be read as a text file ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowFormatError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise WorkflowFormatError(f"{path}: JSON nested too deeply to be a workflow") from None
    try:
        return to_api_format(data)
    except WorkflowFormatError as exc:
        raise WorkflowFormatError(f"{path}: {exc}") from None
