"""ComfyUI's `server.PromptServer.instance` for plugins: the routes they add at import, and send_sync to the
websocket clients.

The web server mounts `routes` (at /X and /api/X) and attaches its sender when it starts; before that, and in the
CLI, send_sync only logs. This module never imports the web server: the server finds `PromptServer.instance`.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from aiohttp import web

from graph_engine import current_context
from nodes.comfy_compat.not_offered import attribute_not_offered

log = logging.getLogger(__name__)

Sender = Callable[[str, Any, "str | None"], None]


class PromptServer:
    """The one object plugins reach as `PromptServer.instance`."""

    instance: "PromptServer"

    def __init__(self) -> None:
        self.routes = web.RouteTableDef()
        self.app: web.Application | None = None
        self._send: Sender | None = None
        self._running_client: Callable[[], str | None] = lambda: None

    def attach(self, app: web.Application, send: Sender, running_client: Callable[[], str | None]) -> None:
        """Called by the web server: `send(event, data, sid)` is safe from any thread; `running_client()` is the
        client id of the prompt running now."""
        self.app, self._send, self._running_client = app, send, running_client

    @property
    def client_id(self) -> str | None:
        """The client that queued the prompt running now (None outside the server or between prompts)."""
        return self._running_client()

    @property
    def last_prompt_id(self) -> str | None:
        context = current_context()
        return context.prompt_id if context is not None else None

    @property
    def last_node_id(self) -> str | None:
        context = current_context()
        return context.node_id if context is not None else None

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        """Send {"type": event, "data": data} to client `sid`, or to every client when sid is None."""
        if self._send is None:
            log.debug("no web server to send %r to (sid %s); message dropped", event, sid)
            return
        self._send(event, data, sid)

    async def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        self.send_sync(event, data, sid)


PromptServer.instance = PromptServer()


__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
