"""/workflow/convert: one converter between the editor (UI) format and the API format for the canvas and clients;
it also builds the workflow of an AUTOMATIC1111 image from its `parameters` text, as `latentloom run` does."""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from graph_engine import NodeRegistry, WorkflowFormatError, api_to_ui, to_api_format
from graph_engine.workflow import looks_like_ui_format

from ..replies import BadRequest, read_object
from ..state import ServerState

routes = web.RouteTableDef()

TARGETS = ("api", "ui")


def _to_ui(data: Any, registry: NodeRegistry) -> dict[str, Any]:
    """A UI-format workflow is returned as it is; anything else is read as API format and laid out."""
    if looks_like_ui_format(data):
        return data
    return api_to_ui(to_api_format(data, registry), registry)


def _to_api(data: Any, registry: NodeRegistry) -> dict[str, Any]:
    """The API prompt; something that is neither format is refused here rather than queued later."""
    prompt = to_api_format(data, registry)
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            raise WorkflowFormatError(f"node {node_id}: must be an object with a 'class_type' string "
                                      "(this is neither an API-format nor a UI-format workflow)")
    return prompt


async def _prompt_from_parameters(state: ServerState, text: Any) -> dict[str, Any]:
    """The API prompt for an A1111 `parameters` text; off the event loop, since finding a model by hash reads it."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("'parameters' must be the text of an AUTOMATIC1111 image's 'parameters' chunk",
                         kind="invalid_workflow")
    convert = state.services.prompt_from_parameters
    if convert is None:
        raise BadRequest("this server cannot read AUTOMATIC1111 parameters (its diffusion nodes are not loaded)",
                         status=501, kind="not_supported")
    try:
        return await asyncio.to_thread(convert, text)
    except WorkflowFormatError as exc:
        raise BadRequest(f"the A1111 parameters cannot be turned into a workflow: {exc}",
                         kind="invalid_workflow") from None


@routes.post("/workflow/convert")
async def convert_workflow(request: web.Request) -> web.Response:
    """Body {"workflow": UI or API workflow, "to": "api"|"ui"}, or {"parameters": A1111 text, "to": ...}."""
    state: ServerState = request.app["state"]
    body = await read_object(request, state.settings.max_json_bytes)
    target = body.get("to")
    if target not in TARGETS:
        raise BadRequest(f"'to' must be \"api\" or \"ui\", not {target!r}", kind="invalid_workflow")
    if "parameters" in body:
        data = await _prompt_from_parameters(state, body["parameters"])
    else:
        data = body.get("workflow")
    if not isinstance(data, dict):
        raise BadRequest("'workflow' must be a workflow object (UI format or API format)", kind="invalid_workflow")
    registry = state.services.engine.registry
    try:
        if target == "api":
            return web.json_response({"prompt": _to_api(data, registry)})
        return web.json_response({"workflow": _to_ui(data, registry)})
    except WorkflowFormatError as exc:
        raise BadRequest(f"the workflow cannot be converted to {target.upper()} format: {exc}",
                         kind="invalid_workflow") from None
