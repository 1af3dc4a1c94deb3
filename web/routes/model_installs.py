"""POST /models/install: fetch a model from a URL or Hugging Face in the background, progress over the websocket.

A download takes minutes, longer than an HTTP request should wait, so the route answers at once with an id and
the websocket carries `model_install_waiting` (when it has to wait for a free slot), `model_install_progress` (at
most a few a second), then `model_install_done` or `model_install_error`, to the client that asked (every client
when it gave no client_id). Installs run on threads of their own, a few at a time (web/install_slots.py). The
source is judged by its syntax: an http(s) URL or a Hugging Face file, never a path on the server, so the answer
is the same whether or not such a path exists.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from aiohttp import web

from ..install_slots import InstallsBusy
from ..replies import BadRequest, field, read_object
from ..services import ServiceError
from ..state import ServerState

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
PROGRESS_INTERVAL_S = 0.25


@routes.post("/models/install")
async def install(request: web.Request) -> web.Response:
    state: ServerState = request.app["state"]
    services = state.services
    if services.install_model is None or services.check_install_source is None:
        raise BadRequest("this server cannot install models", status=501, kind="not_supported")
    body = await read_object(request, state.settings.max_json_bytes)
    source = field(body, "source", str)
    if not source or not source.strip():
        raise BadRequest("'source' must name an https:// URL or a Hugging Face file such as "
                         "org/repo/path/model.safetensors")
    source = source.strip()
    try:
        services.check_install_source(source)
    except ServiceError as error:
        raise BadRequest(str(error), kind="invalid_source") from None
    fields = {name: field(body, name, str) for name in ("kind", "name", "revision")}
    client_id = field(body, "client_id", str)
    try:
        place = state.installs.admit()
    except InstallsBusy as error:
        raise BadRequest(str(error), status=429, kind="too_many_installs") from None
    install_id = uuid.uuid4().hex
    task = asyncio.get_running_loop().create_task(_run(state, install_id, source, fields, client_id, place))
    state.background_tasks.add(task)
    task.add_done_callback(state.background_tasks.discard)
    return web.json_response({"install_id": install_id, "place_in_line": place}, status=202)


async def _run(state: ServerState, install_id: str, source: str, fields: dict[str, Any], client_id: str | None,
               place: int) -> None:
    hub = state.hub
    last = [0.0]

    def progress(done: int, total: int | None) -> None:  # runs on the download thread
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL_S or done == total:
            last[0] = now
            hub.send_threadsafe("model_install_progress",
                                {"install_id": install_id, "source": source, "done": done, "total": total}, client_id)

    if place:
        hub.send("model_install_waiting", {"install_id": install_id, "source": source, "place_in_line": place},
                 client_id)
    try:
        result = await state.installs.run(lambda: state.services.install_model(source, fields, progress))
    except ServiceError as error:
        hub.send("model_install_error", {"install_id": install_id, "source": source,
                                         "message": state.redact.text(str(error))}, client_id)
        return
    except Exception:  # a bug of ours: the log keeps the traceback, the client gets a sentence
        log.exception("installing %s failed", source)
        hub.send("model_install_error", {"install_id": install_id, "source": source,
                                         "message": "the install failed unexpectedly; the server log has details"},
                 client_id)
        return
    hub.send("model_install_done", {"install_id": install_id, "source": source, **state.redact(result)}, client_id)
