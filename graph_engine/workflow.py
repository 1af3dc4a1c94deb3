"""Reading workflow files: ComfyUI's API format, and the editor (UI) format converted through graph_engine.ui_format."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import WorkflowFormatError
from .registry import NodeRegistry
from .ui_format import ui_to_api

Prompt = dict[str, Any]  # API format: {node_id: {"class_type", "inputs", "_meta"?}}

def looks_like_ui_format(data: Any) -> bool:
    """The editor saves {"nodes": [...], "links": [...]}; the API format maps ids to nodes."""
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def to_api_format(data: Any, registry: NodeRegistry | None = None) -> Prompt:
    """Return the API-format prompt for a decoded workflow; an editor (UI-format) workflow is converted with the
    registry's node specs, and refused with a clear message when no registry is given."""
    if looks_like_ui_format(data):
        if registry is None:
            raise WorkflowFormatError(
                "this is an editor (UI format) workflow, which needs the installed nodes to be converted; "
                "in ComfyUI use 'Export (API)' and run that file")
        return ui_to_api(data, registry)
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict) and "class_type" not in data:
        # the body of a /prompt request saved to a file
        return data["prompt"]
    return data


def read_workflow_file(path: str | Path, registry: NodeRegistry | None = None) -> Prompt:
    """Read a workflow file (API format, or UI format when a registry is given); errors name the file."""
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
        return to_api_format(data, registry)
    except WorkflowFormatError as exc:
        raise type(exc)(f"{path}: {exc}") from None  # keep the kind (e.g. UIConversionError) for callers
