"""The canvas page, its modules, and the browser scripts of plugins (and of a served front end)."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web
from graph_engine.folders import resolve_inside

from ..front_end import EXTENSION_FOLDER, EXTENSION_NAME
from ..replies import BadRequest
from ..security import CANVAS_POLICY
from ..state import ServerState

STATIC = Path(__file__).resolve().parent.parent / "static"
routes = web.RouteTableDef()


async def canvas_page(request: web.Request) -> web.StreamResponse:
    """At / by default, at /loom/ when another front end has /."""
    page = STATIC / "index.html"
    if not page.is_file():
        return web.Response(text="Latentloom is running; the canvas is not installed.", content_type="text/plain")
    return web.FileResponse(page, headers={"Cache-Control": "no-cache", "Content-Security-Policy": CANVAS_POLICY})


def file_under(folder: Path, name: str, what: str = "static folder") -> web.FileResponse:
    """The file `name` inside `folder` (403 for a path out of it, 404 for none)."""
    try:
        path = resolve_inside(folder, name, what)
    except ValueError as exc:
        raise BadRequest(str(exc), status=403, kind="forbidden_path") from None
    if not path.is_file():
        raise BadRequest(f"no file '{name}'", status=404, kind="not_found")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


@routes.get("/static/{path:.+}")
async def static_file(request: web.Request) -> web.StreamResponse:
    return file_under(STATIC, request.match_info["path"])


@routes.get("/extensions/{plugin}/{path:.+}")
async def extension_file(request: web.Request) -> web.StreamResponse:
    """A plugin's script first (as ComfyUI, whose plugin folders come before its static root), then the served
    front end's own extensions/ folder, and ours for it."""
    state: ServerState = request.app["state"]
    plugin, path = request.match_info["plugin"], request.match_info["path"]
    folder = state.services.web_directories.get(plugin)
    front_end = state.settings.front_end_root
    if folder is None and front_end is not None:
        folder = EXTENSION_FOLDER if plugin == EXTENSION_NAME else front_end / "extensions" / plugin
        if not folder.is_dir():
            folder = None
    if folder is None:
        raise BadRequest(f"no plugin '{plugin}' with browser scripts", status=404, kind="not_found")
    return file_under(folder, path)
