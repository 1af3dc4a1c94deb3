"""/userdata and /v2/userdata: the user's files in the shapes and statuses of ComfyUI's routes."""
from __future__ import annotations

import mimetypes

from aiohttp import web

from ..replies import BadRequest, read_body
from ..state import ServerState
from ..user_data import (UserDataError, existing_file, file_info, list_files, list_tree, move_file, user_root,
                         write_file)

routes = web.RouteTableDef()
# read back as what they are; anything else is sent as bytes to save, never rendered in the app's origin
READABLE_TYPES = {"application/json", "text/plain", "text/markdown", "text/csv"}


def _state(request: web.Request) -> ServerState:
    return request.app["state"]


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    return default if value is None else value.lower() == "true"


def _user_data(call, *args):
    try:
        return call(*args)
    except UserDataError as error:
        raise BadRequest(str(error), status=error.status, kind="user_data") from None


def _written(request: web.Request, path) -> web.Response:
    """The written file as FileInfo (full_info=true) or its path as a JSON string, relative to the user's folder."""
    root = user_root(_state(request).services.engine.folders.user).resolve()
    if _flag(request, "full_info", False):
        return web.json_response(file_info(path, root))
    return web.json_response(path.relative_to(root).as_posix())


@routes.get("/userdata")
async def list_user_data(request: web.Request) -> web.Response:
    directory = request.query.get("dir", "")
    if not directory:
        raise BadRequest("give the folder to list as ?dir=, e.g. ?dir=workflows", kind="user_data")
    folder = _state(request).services.engine.folders.user
    return web.json_response(_user_data(list_files, folder, directory, _flag(request, "recurse", False),
                                        _flag(request, "full_info", False), _flag(request, "split", False)))


@routes.get("/v2/userdata")
async def list_user_data_tree(request: web.Request) -> web.Response:
    folder = _state(request).services.engine.folders.user
    return web.json_response(_user_data(list_tree, folder, request.query.get("path", "")))


@routes.get("/userdata/{file}")
async def read_user_data(request: web.Request) -> web.StreamResponse:
    folder = _state(request).services.engine.folders.user
    path = _user_data(existing_file, folder, request.match_info["file"])
    if path == user_root(folder).resolve() / "user.css":  # the frontend's user stylesheet
        return web.FileResponse(path, headers={"Content-Type": "text/css", "Content-Disposition": "inline"})
    guessed = mimetypes.guess_type(path.name)[0]
    content_type = guessed if guessed in READABLE_TYPES else "application/octet-stream"
    return web.FileResponse(path, headers={"Content-Type": content_type, "Content-Disposition": "attachment"})


@routes.post("/userdata/{file}")
async def write_user_data(request: web.Request) -> web.Response:
    state = _state(request)
    data = await read_body(request, state.settings.max_json_bytes)
    path = _user_data(write_file, state.services.engine.folders.user, request.match_info["file"], data,
                      _flag(request, "overwrite", True))
    return _written(request, path)


@routes.delete("/userdata/{file}")
async def delete_user_data(request: web.Request) -> web.Response:
    _user_data(existing_file, _state(request).services.engine.folders.user, request.match_info["file"]).unlink()
    return web.Response(status=204)


@routes.post("/userdata/{file}/move/{dest}")
async def move_user_data(request: web.Request) -> web.Response:
    folder = _state(request).services.engine.folders.user
    path = _user_data(move_file, folder, request.match_info["file"], request.match_info["dest"],
                      _flag(request, "overwrite", True))
    return _written(request, path)
