"""/users and /settings: the single user and its settings, in the shapes ComfyUI's frontend reads."""
from __future__ import annotations

from aiohttp import web

from ..replies import BadRequest, read_json, read_object
from ..state import ServerState
from ..user_settings import read_settings, update_settings

routes = web.RouteTableDef()


def _state(request: web.Request) -> ServerState:
    return request.app["state"]


@routes.get("/users")
async def users(request: web.Request) -> web.Response:
    # no "users" key: with one the frontend shows a multi-user login screen
    return web.json_response({"storage": "server", "migrated": True})


@routes.post("/users")
async def new_user(request: web.Request) -> web.Response:
    raise BadRequest("this server has a single user: there are no users to create", kind="single_user")


@routes.get("/settings")
async def all_settings(request: web.Request) -> web.Response:
    return web.json_response(read_settings(_state(request).services.engine.folders.user))


@routes.post("/settings")
async def merge_settings(request: web.Request) -> web.Response:
    state = _state(request)
    changes = await read_object(request, state.settings.max_json_bytes)
    update_settings(state.services.engine.folders.user, changes)  # no await in between: one update at a time
    return web.Response(status=200)


@routes.get("/settings/{id}")
async def one_setting(request: web.Request) -> web.Response:
    settings = read_settings(_state(request).services.engine.folders.user)
    return web.json_response(settings.get(request.match_info["id"]))


@routes.post("/settings/{id}")
async def set_one_setting(request: web.Request) -> web.Response:
    state = _state(request)
    value = await read_json(request, state.settings.max_json_bytes)
    update_settings(state.services.engine.folders.user, {request.match_info["id"]: value})
    return web.Response(status=200)
