"""GET /ws: the event stream of ComfyUI's websocket; binary previews only for clients that ask for them (type 4, with
the node they belong to, for those that said in their feature_flags that they read it)."""
from __future__ import annotations

import json
import uuid

from aiohttp import WSMsgType, web

from ..feature_flags import server_features
from ..state import ServerState

routes = web.RouteTableDef()
MAX_CLIENT_MESSAGE = 1 << 20


def _message_type(message: str) -> tuple[str | None, object]:
    """(type, data) of a client's JSON message; (None, None) for anything else."""
    try:
        decoded = json.loads(message)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("type"), str):
        return None, None
    return decoded["type"], decoded.get("data")


@routes.get("/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    state: ServerState = request.app["state"]
    socket = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_CLIENT_MESSAGE)
    await socket.prepare(request)
    sid = request.query.get("clientId") or uuid.uuid4().hex
    client = state.hub.attach(sid, socket, request.query.get("previews", "").lower() in ("1", "true", "yes"))
    try:
        async for message in socket:
            kind, data = _message_type(message.data) if message.type == WSMsgType.TEXT else (None, None)
            if kind == "feature_flags":  # ComfyUI's own page announces its features on connect: answer with ours
                client.wants_previews = True
                client.preview_metadata = isinstance(data, dict) and data.get("supports_preview_metadata") is True
                state.hub.send("feature_flags", server_features(state.settings), sid)
            elif kind == "previews":  # ours: {"type": "previews", "data": bool}
                client.wants_previews = bool(data)
    finally:
        state.hub.detach(client)
    return socket
