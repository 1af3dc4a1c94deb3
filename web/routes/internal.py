"""ComfyUI's /internal routes, for its frontend only: the recent log (whole, raw, or as websocket messages), the
model folders and the files of the input, output and temp folders. As in ComfyUI they answer at /internal/...
alone, without the /api/ prefix."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web

from graph_engine.partial_files import is_partial_name

from ..log_buffer import terminal_size
from ..replies import BadRequest, field, read_object
from ..state import ServerState
from .files import FOLDER_TYPES

routes = web.RouteTableDef()


def _state(request: web.Request) -> ServerState:
    return request.app["state"]


@routes.get("/internal/logs")
async def logs(request: web.Request) -> web.Response:
    """The recent log as one string, each entry as '<time> - <line>'."""
    state = _state(request)
    return web.json_response("".join(f"{entry['t']} - {entry['m']}" for entry in state.redact(state.logs.recent())))


@routes.get("/internal/logs/raw")
async def raw_logs(request: web.Request) -> web.Response:
    state = _state(request)
    return web.json_response({"entries": state.redact(state.logs.recent()), "size": terminal_size()})


@routes.patch("/internal/logs/subscribe")
async def subscribe_to_logs(request: web.Request) -> web.Response:
    """{"enabled": bool, "clientId": the websocket's client id}: new log entries reach that client as "logs"."""
    state = _state(request)
    body = await read_object(request, state.settings.max_json_bytes)
    client_id, enabled = field(body, "clientId", str), field(body, "enabled", bool)
    if not client_id or enabled is None:
        raise BadRequest("send {\"enabled\": true or false, \"clientId\": the client id of your websocket}")
    state.log_subscribers.subscribe(client_id, enabled)
    return web.Response(status=200)


@routes.get("/internal/folder_paths")
async def folder_paths(request: web.Request) -> web.Response:
    """Each model folder name with the folders searched for it (relative to the base folder where they are in it)."""
    state = _state(request)
    services = state.services
    return web.json_response(state.redact({name: [str(path) for path in services.model_roots(name)]
                                           for name in services.model_folder_names}))


@routes.get("/internal/files/{directory_type}")
async def folder_files(request: web.Request) -> web.Response:
    """The names of the files directly in the input, output or temp folder, newest first (ComfyUI's frontend reads
    the input folder's after an upload); files still being written are left out."""
    kind = request.match_info["directory_type"]
    if kind not in FOLDER_TYPES:
        raise BadRequest(f"the folder must be one of {', '.join(FOLDER_TYPES)}, not '{kind}'")
    folder = getattr(_state(request).services.engine.folders, kind)
    return web.json_response(await asyncio.get_running_loop().run_in_executor(None, _newest_first, folder))


def _newest_first(folder: Path) -> list[str]:
    dated = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    for entry in entries:
        try:
            if entry.is_file() and not is_partial_name(entry.name):
                dated.append((entry.stat().st_mtime, entry.name))
        except FileNotFoundError:
            continue  # removed while listed
    return [name for _mtime, name in sorted(dated, key=lambda item: -item[0])]
