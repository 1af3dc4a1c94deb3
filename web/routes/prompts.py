"""Prompts, the queue and the history: /prompt, /queue, /history, /interrupt, /free (ComfyUI's shapes)."""
from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

from aiohttp import web

from graph_engine import events
from graph_engine.prompt_queue import DuplicatePromptError

from ..replies import BadRequest, field, read_object, string_list
from ..state import ServerState

routes = web.RouteTableDef()


def _state(request: web.Request) -> ServerState:
    return request.app["state"]


def _queue_number(body: dict[str, Any]) -> float | None:
    """The optional place in the queue: any finite number (it is stored as a float, so at most about 1.8e308)."""
    number = field(body, "number", (int, float))
    if number is None:
        return None
    try:
        number = float(number)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise BadRequest("'number' must be a finite number (its place in the queue), at most about 1.8e308 either "
                         "way; leave it out to queue at the back")
    return number


@routes.post("/prompt")
async def post_prompt(request: web.Request) -> web.Response:
    state = _state(request)
    body = await read_object(request, state.settings.max_json_bytes)
    prompt = body.get("prompt")
    if not isinstance(prompt, dict):
        raise BadRequest("'prompt' must be an object mapping node ids to nodes (the API format)",
                         kind="invalid_prompt", body={"node_errors": {}})
    client_id = field(body, "client_id", str)
    extra_data = field(body, "extra_data", dict, {})
    front = field(body, "front", (bool, int), False)
    number = _queue_number(body)
    prompt_id = field(body, "prompt_id", str) or str(uuid.uuid4())
    extra_data = dict(extra_data)
    if client_id is not None:
        extra_data["client_id"] = client_id
    extra_data["create_time"] = events.now_ms()  # the job's create time (/jobs); set here always, as ComfyUI does
    targets = None  # ComfyUI's partial execution: only these output nodes (and what they need) run
    if body.get("partial_execution_targets") is not None:
        targets = string_list(body, "partial_execution_targets", "output node ids")
    report = await asyncio.get_running_loop().run_in_executor(None, state.worker.validate, prompt, targets)
    node_errors = state.redact({nid: errors.to_json() for nid, errors in report.node_errors.items()})
    if not report.outputs:
        raise BadRequest(report.error.message if report.error else "the prompt has no output that can run",
                         kind="invalid_prompt", body=state.redact(report.to_json()))
    try:
        item = state.queue.put(prompt_id, prompt, extra_data, list(report.outputs), front=bool(front), number=number)
    except DuplicatePromptError as exc:
        raise BadRequest(str(exc), kind="duplicate_prompt_id") from None
    state.worker.notify()
    state.hub.queue_changed_threadsafe()
    return web.json_response({"prompt_id": prompt_id, "number": item.as_list()[0], "node_errors": node_errors})


@routes.get("/prompt")
async def get_prompt(request: web.Request) -> web.Response:
    return web.json_response(_state(request).hub.status_data()["status"])


@routes.get("/queue")
async def get_queue(request: web.Request) -> web.Response:
    queue = _state(request).queue
    return web.json_response({"queue_running": [item.as_list() for item in queue.running()],
                              "queue_pending": [item.as_list() for item in queue.pending()]})


@routes.post("/queue")
async def post_queue(request: web.Request) -> web.Response:
    state = _state(request)
    body = await read_object(request, state.settings.max_json_bytes)
    if body.get("clear"):
        state.queue.clear_pending()
    if "delete" in body:
        ids = string_list(body, "delete")
        state.queue.delete_pending(ids)
        for prompt_id in ids:  # ComfyUI's delete also stops the prompt when it is the running one
            state.worker.interrupt(prompt_id)
    state.hub.queue_changed_threadsafe()
    return web.Response(status=200)


def _whole_number(request: web.Request, name: str) -> int | None:
    """A query parameter that must be a whole number, or None when it is absent."""
    text = request.query.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not '{text[:40]}'") from None


@routes.get("/history")
async def get_history(request: web.Request) -> web.Response:
    max_items, offset = _whole_number(request, "max_items"), _whole_number(request, "offset") or 0
    entries = _state(request).queue.history(max_items, offset)
    return web.json_response({entry.item.prompt_id: entry.to_json() for entry in entries})


@routes.get("/history/{prompt_id}")
async def get_history_entry(request: web.Request) -> web.Response:
    prompt_id = request.match_info["prompt_id"]
    entry = _state(request).queue.history_entry(prompt_id)
    return web.json_response({} if entry is None else {prompt_id: entry.to_json()})


@routes.post("/history")
async def post_history(request: web.Request) -> web.Response:
    state = _state(request)
    body = await read_object(request, state.settings.max_json_bytes)
    if body.get("clear"):
        state.queue.clear_history()
    if "delete" in body:
        state.queue.delete_history(string_list(body, "delete"))
    return web.Response(status=200)


@routes.post("/interrupt")
async def post_interrupt(request: web.Request) -> web.Response:
    state = _state(request)
    body: dict[str, Any] = await read_object(request, state.settings.max_json_bytes)
    state.worker.interrupt(field(body, "prompt_id", str))
    return web.Response(status=200)


@routes.post("/free")
async def post_free(request: web.Request) -> web.Response:
    state = _state(request)
    body = await read_object(request, state.settings.max_json_bytes)
    drop_results = bool(body.get("free_memory"))
    unload = drop_results or bool(body.get("unload_models"))
    if drop_results or unload:
        await asyncio.get_running_loop().run_in_executor(None, state.worker.free, drop_results, unload)
    return web.Response(status=200)
