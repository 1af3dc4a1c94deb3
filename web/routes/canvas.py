"""The canvas page, its modules, and the plugins' browser scripts."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web
from graph_engine.folders import resolve_inside

from ..replies import BadRequest
from ..security import CANVAS_POLICY
from ..state import ServerState

STATIC = Path(__file__).resolve().parent.parent / "static"
routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    page = STATIC / "index.html"
    if not page.is_file():
        return web.Response(text="Latentloom is running; the canvas is not installed.", content_type="text/plain")
    return web.FileResponse(page, headers={"Cache-Control": "no-cache", "Content-Security-Policy": CANVAS_POLICY})


def _file_under(folder: Path, name: str) -> web.FileResponse:
    try:
        path = resolve_inside(folder, name, "static folder")
    except ValueError as exc:
        raise BadRequest(str(exc), status=403, kind="forbidden_path") from None
    if not path.is_file():
        raise BadRequest(f"no file '{name}'", status=404, kind="not_found")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


@routes.get("/static/{path:.+}")
async def static_file(request: web.Request) -> web.StreamResponse:
    return _file_under(STATIC, request.match_info["path"])


@routes.get("/extensions/{plugin}/{path:.+}")
async def extension_file(request: web.Request) -> web.StreamResponse:
    state: ServerState = request.app["state"]
    folder = state.services.web_directories.get(request.match_info["plugin"])
    if folder is None:
        raise BadRequest(f"no plugin '{request.match_info['plugin']}' with browser scripts", status=404,
                         kind="not_found")
    return _file_under(folder, request.match_info["path"])
