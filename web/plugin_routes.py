"""ComfyUI plugins' server side: the routes they added to `server.PromptServer.instance.routes` answer at /X and
/api/X (as in ComfyUI), and its send_sync reaches the websocket clients.

Plugins import `server` from Latentloom's compatibility layer while they load, before the server starts; web
imports no node code, so it only looks the instance up among the imported modules.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

from aiohttp import web

from .state import ServerState

log = logging.getLogger(__name__)

COMFY_SERVER_MODULE = "server"  # the module name ComfyUI plugins import PromptServer from


def plugin_prompt_server() -> Any | None:
    """`server.PromptServer.instance` when a plugin imported it, else None."""
    module = sys.modules.get(COMFY_SERVER_MODULE)
    instance = getattr(getattr(module, "PromptServer", None), "instance", None)
    return instance if callable(getattr(instance, "attach", None)) else None


def _add_route(app: web.Application, method: str, path: str, handler: Any, kwargs: dict) -> None:
    try:
        app.router.add_route(method, path, handler, **kwargs)
    except (RuntimeError, ValueError) as exc:  # a clash with a built-in route, or a malformed path
        log.warning("a plugin's route %s %s was not added: %s (the built-in route keeps answering)", method,
                    path, exc)


def mount_plugin_routes(app: web.Application, state: ServerState) -> None:
    """Add the plugins' routes after the built-in ones (which win a clash) and connect send_sync to the hub."""
    prompt_server = plugin_prompt_server()
    if prompt_server is None:
        return
    for route in prompt_server.routes:
        if isinstance(route, web.RouteDef):
            for path in (route.path, "/api" + route.path):
                _add_route(app, route.method, path, route.handler, route.kwargs)
        else:  # a static folder (web.static)
            route.register(app.router)

    prompt_server.attach(app, state.hub.send_threadsafe, state.worker.running_client)
