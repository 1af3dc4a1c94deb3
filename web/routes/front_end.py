"""A built web app (ComfyUI's frontend) at /: its page, then any of its files; mounted after every other route."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ..front_end import CANVAS_PATH
from ..replies import BadRequest
from .canvas import canvas_page, file_under


def front_end_routes(root: Path) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/")
    async def index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(root / "index.html", headers={"Cache-Control": "no-cache"})

    @routes.get(CANVAS_PATH.rstrip("/"))
    async def canvas_without_slash(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(CANVAS_PATH)

    routes.get(CANVAS_PATH)(canvas_page)

    @routes.get("/{path:.+}")
    async def app_file(request: web.Request) -> web.StreamResponse:
        try:
            return file_under(root, request.match_info["path"], "front-end folder")
        except BadRequest as refusal:
            if refusal.status != 404:
                raise
        # as for any unknown route: aiohttp's plain answer, as ComfyUI's static root gives (some of its callers
        # read any JSON answer as data)
        return web.Response(status=404, text="404: Not Found")

    return routes
