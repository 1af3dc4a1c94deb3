"""What ComfyUI's frontend reads at start beside the nodes: plugins' translations (/i18n) and example workflows
(/workflow_templates), the template packages' files (/templates/...), and the lists Latentloom has none of yet
(/global_subgraphs, /node_replacements: empty, as ComfyUI answers without them)."""
from __future__ import annotations

import asyncio

from aiohttp import web

from graph_engine.folders import resolve_inside

from ..plugin_files import plugin_translations, workflow_templates
from ..replies import BadRequest
from ..state import ServerState

routes = web.RouteTableDef()


def _state(request: web.Request) -> ServerState:
    return request.app["state"]


@routes.get("/i18n")
async def i18n(request: web.Request) -> web.Response:
    folders = _state(request).services.plugin_folders
    return web.json_response(await asyncio.get_running_loop().run_in_executor(None, plugin_translations, folders))


@routes.get("/workflow_templates")
async def plugin_workflow_templates(request: web.Request) -> web.Response:
    """{plugin: [template names]}; plugins without example workflows are left out."""
    found = workflow_templates(_state(request).services.plugin_folders)
    return web.json_response({plugin: list(templates) for plugin, templates in found.items()})


@routes.get("/workflow_templates/{plugin}/{filename}")
async def plugin_workflow_template(request: web.Request) -> web.StreamResponse:
    """One example workflow, by the plugin and the name the list gives (+ .json), never by a path."""
    plugin, filename = request.match_info["plugin"], request.match_info["filename"]
    templates = workflow_templates(_state(request).services.plugin_folders).get(plugin, {})
    file = templates.get(filename.removesuffix(".json")) if filename.endswith(".json") else None
    if file is None:
        raise BadRequest(f"plugin '{plugin}' has no example workflow '{filename}'; GET /workflow_templates lists "
                         "them", status=404, kind="not_found")
    return web.FileResponse(file, headers={"Content-Type": "application/json"})


@routes.get("/global_subgraphs")
async def global_subgraphs(request: web.Request) -> web.Response:
    return web.json_response({})


@routes.get("/node_replacements")
async def node_replacements(request: web.Request) -> web.Response:
    return web.json_response({})


# not an API route: ComfyUI serves the packages' files at /templates only
template_routes = web.RouteTableDef()


@template_routes.get("/templates/{path:.+}")
async def template_file(request: web.Request) -> web.StreamResponse:
    """A file of the installed workflow template packages (index.json, a workflow, its thumbnail)."""
    name = request.match_info["path"]
    folders = _state(request).services.template_folders
    if not folders:
        raise BadRequest("no workflow templates are installed: pip install comfyui-workflow-templates",
                         status=404, kind="not_found")
    for folder in folders:
        try:
            path = resolve_inside(folder, name, "templates folder")
        except ValueError as exc:
            raise BadRequest(str(exc), status=403, kind="forbidden_path") from None
        if path.is_file():
            return web.FileResponse(path)
    raise BadRequest(f"no workflow template file '{name}'", status=404, kind="not_found")
