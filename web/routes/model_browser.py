"""ComfyUI's model browser: /experiment/models (the folders), /experiment/models/{folder} (their files with sizes
and times), a file's preview picture, and /view_metadata/{folder} (a safetensors file's metadata). Names stay inside
their model folder: no '..', no absolute path (links inside a folder are the owner's, and followed)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from graph_engine.folders import join_inside

from ..image_variants import PREVIEW_SUFFIXES, encoded, open_image
from ..replies import BadRequest
from ..state import ServerState

routes = web.RouteTableDef()
HIDDEN_FOLDERS = ("configs",)  # not model files; ComfyUI's browser leaves them out too


def _state(request: web.Request) -> ServerState:
    return request.app["state"]


def _known_folder(state: ServerState, folder: str) -> str:
    if folder not in state.services.model_folder_names:
        raise BadRequest(f"no model folder '{folder}'; the folders are {', '.join(state.services.model_folder_names)}",
                         status=404, kind="not_found")
    return folder


async def _off_loop(function, *args):
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


@routes.get("/experiment/models")
async def model_folders(request: web.Request) -> web.Response:
    state = _state(request)
    services = state.services
    listing = [{"name": name, "folders": [str(path) for path in services.model_roots(name)]}
               for name in services.model_folder_names if name not in HIDDEN_FOLDERS]
    return web.json_response(state.redact(listing))


@routes.get("/experiment/models/{folder}")
async def model_files(request: web.Request) -> web.Response:
    state = _state(request)
    folder = _known_folder(state, request.match_info["folder"])
    return web.json_response(await _off_loop(state.services.model_files, folder))


def _preview_of(model: Path) -> Path | None:
    """The picture beside a model file: <name>.png/.jpg/.jpeg/.webp, then <name>.preview.<same>."""
    stem = model.with_suffix("")
    for candidate in [stem.with_name(stem.name + suffix) for suffix in PREVIEW_SUFFIXES]:
        if candidate.is_file():
            return candidate
    return None


@routes.get("/experiment/models/preview/{folder}/{path_index}/{filename:.+}")
async def model_preview(request: web.Request) -> web.Response:
    """The model's preview picture as WebP; 404 when it has none."""
    state = _state(request)
    folder = _known_folder(state, request.match_info["folder"])
    roots = state.services.model_roots(folder)
    index_text, filename = request.match_info["path_index"], request.match_info["filename"]
    if not index_text.isdigit():
        raise BadRequest(f"the folder index must be a whole number, not '{index_text}'", kind="invalid_path_index")
    if int(index_text) >= len(roots):
        raise BadRequest(f"the {folder} folder has {len(roots)} root folder(s); there is no index {index_text}",
                         status=404, kind="not_found")
    try:
        model = join_inside(roots[int(index_text)], filename, f"{folder} folder")
    except ValueError as exc:
        raise BadRequest(str(exc), status=403, kind="forbidden_path") from None
    preview = await _off_loop(_preview_of, model)
    if preview is None:
        raise BadRequest(f"'{filename}' has no preview picture beside it", status=404, kind="not_found")
    image = await _off_loop(open_image, preview, state.settings.max_upload_pixels)
    return web.Response(body=await _off_loop(encoded, image, "webp", 90), content_type="image/webp")


@routes.get("/view_metadata/{folder}")
async def view_metadata(request: web.Request) -> web.Response:
    """The `__metadata__` of a .safetensors file (training details, trigger words); 404 when it has none."""
    state = _state(request)
    folder = _known_folder(state, request.match_info["folder"])
    filename = request.query.get("filename", "")
    if not filename:
        raise BadRequest("filename is missing: /view_metadata/<folder>?filename=<file>.safetensors")
    try:
        metadata = await _off_loop(state.services.model_metadata, folder, filename)
    except ValueError as exc:
        raise BadRequest(str(exc), status=403, kind="forbidden_path") from None
    if metadata is None:
        raise BadRequest(f"no safetensors metadata for '{filename}' in the {folder} folder (no such file, not a "
                         ".safetensors file, or no metadata in it)", status=404, kind="not_found")
    return web.json_response(metadata)
