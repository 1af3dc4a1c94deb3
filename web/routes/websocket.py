"""GET /ws: the event stream of ComfyUI's websocket; binary previews only for clients that ask for them."""
from __future__ import annotations

import json
import uuid

from aiohttp import WSMsgType, web

from ..state import ServerState

routes = web.RouteTableDef()
MAX_CLIENT_MESSAGE = 1 << 20


def _asks_for_previews(message: str) -> bool | None:
    """ComfyUI's own page announces its features on connect; {"type": "previews", "data": bool} is ours."""
    try:
        decoded = json.loads(message)
    except (ValueError, RecursionError):
        return None
    if not isinstance(decoded, dict):
        return None
    if decoded.get("type") == "feature_flags":
        return True
    if decoded.get("type") == "previews":
        return bool(decoded.get("data"))
    return None


@routes.get("/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    state: ServerState = request.app["state"]
    socket = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_CLIENT_MESSAGE)
    await socket.prepare(request)
    sid = request.query.get("clientId") or uuid.uuid4().hex
    client = state.hub.attach(sid, socket, request.query.get("previews", "").lower() in ("1", "true", "yes"))
    try:
        async for message in socket:
            if message.type == WSMsgType.TEXT and (wants := _asks_for_previews(message.data)) is not None:
                client.wants_previews = wants
    finally:
        state.hub.detach(client)
    return socket
