"""Image files in and out: /view, /upload/image, /upload/mask; every name stays inside its folder.

/view shows images, video and audio in the browser; every other file is a download (application/octet-stream,
attachment), so an HTML, SVG or script file in a folder never runs as a page of this server. Files still being
written (graph_engine.partial_files) are never served. As in ComfyUI, `channel` (rgb, a) sends one channel of an
image as a PNG and `preview` (webp;90, jpeg;80) a lighter copy.
"""
from __future__ import annotations

import asyncio
import io
import json
import os
import re
from pathlib import Path

from aiohttp import web
from aiohttp.http import HttpProcessingError

from graph_engine.folders import resolve_inside
from graph_engine.partial_files import is_partial_name

from ..image_variants import channel_of, encoded, open_image, read_channel, read_preview
from ..replies import BadRequest
from ..security import VIEW_POLICY
from ..state import ServerState
from ..uploads import checked_image, free_name, stored_name, write_atomically

routes = web.RouteTableDef()
FOLDER_TYPES = ("input", "output", "temp")
# what /view lets the browser show; anything else, SVG and HTML included, is sent as a download
INLINE_MEDIA_TYPES = {
    ".png": "image/png", ".apng": "image/apng", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg",
    ".jfif": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif", ".bmp": "image/bmp",
    ".tif": "image/tiff", ".tiff": "image/tiff",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime",
    ".mkv": "video/x-matroska", ".ogv": "video/ogg",
    ".mp3": "audio/mpeg", ".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".opus": "audio/ogg",
    ".m4a": "audio/mp4", ".aac": "audio/aac",
}
_HEADER_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\]')


def _state(request: web.Request) -> ServerState:
    return request.app["state"]


def _folder(state: ServerState, kind: str) -> Path:
    if kind not in FOLDER_TYPES:
        raise BadRequest(f"type must be one of {', '.join(FOLDER_TYPES)}, not '{kind}'")
    return getattr(state.services.engine.folders, kind)


def _inside(folder: Path, relative: str, kind: str) -> Path:
    """The real path of a name from a request; 403 when it leaves the folder (.., absolute, symbolic link)."""
    if "\0" in relative:
        shown = relative.replace("\0", "\\0")
        raise BadRequest(f"the file or folder name '{shown}' holds a NUL character: give the name without it",
                         kind="invalid_file_name")
    try:
        return resolve_inside(folder, relative, f"{kind} folder")
    except ValueError as exc:
        raise BadRequest(str(exc), status=403, kind="forbidden_path") from None


@routes.get("/view")
async def view(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    kind = request.query.get("type", "output") or "output"
    folder = _folder(state, kind)
    name = request.query.get("filename", "")
    if not name:
        raise BadRequest("filename is missing")
    subfolder = request.query.get("subfolder", "")
    channel = read_channel(request.query.get("channel"))
    preview = read_preview(request.query["preview"]) if "preview" in request.query else None
    path = _inside(folder, os.path.join(subfolder, name) if subfolder else name, kind)
    if not path.is_file() or is_partial_name(path.name):
        raise BadRequest(f"no file '{name}' in the {kind} folder", status=404, kind="not_found")
    media_type = INLINE_MEDIA_TYPES.get(path.suffix.lower(), "")
    if not media_type.startswith("image/"):
        preview = None  # a video or a sound is sent as it is, however the page's preview setting reads
    if channel == "rgba" and preview is None:
        return web.FileResponse(path, headers=_view_headers(path.name))
    if preview is not None and channel == "a":
        preview = ("webp", preview[1])  # JPEG has no alpha to show
    picture_format = preview or ("png", 100)  # PNG is lossless: the number is unused
    body = await asyncio.get_running_loop().run_in_executor(
        None, _picture, path, channel, picture_format, state.settings.max_upload_pixels)
    headers = _view_headers(path.name) | {"Content-Type": f"image/{picture_format[0]}"}
    return web.Response(body=body, headers=headers)


def _picture(path: Path, channel: str, picture_format: tuple[str, int], max_pixels: int) -> bytes:
    """ComfyUI's /view with `channel` or `preview`: one channel of the image, or the image, re-encoded."""
    return encoded(channel_of(open_image(path, max_pixels), channel), *picture_format)


def _view_headers(name: str) -> dict[str, str]:
    """ComfyUI's `filename="<name>"` for media the browser may show; an attachment of bytes for the rest."""
    shown = _HEADER_UNSAFE.sub("_", name)
    media_type = INLINE_MEDIA_TYPES.get(os.path.splitext(name)[1].lower())
    disposition = f'filename="{shown}"' if media_type else f'attachment; filename="{shown}"'
    return {"Content-Type": media_type or "application/octet-stream", "Content-Disposition": disposition,
            "Content-Security-Policy": VIEW_POLICY}


async def _read_form(request: web.Request) -> dict[str, tuple[str, bytes]]:
    """Multipart fields as name -> (file name, bytes), each bounded by the upload limit."""
    limit = _state(request).settings.max_upload_bytes
    if request.content_length is not None and request.content_length > limit:
        raise BadRequest(f"the upload is {request.content_length} bytes; the limit is {limit}", status=413,
                         kind="body_too_large")
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise BadRequest("send the image as multipart/form-data with a field named 'image'") from None
    try:
        return await _read_parts(reader, limit)
    except HttpProcessingError:  # aiohttp refuses a part's headers, e.g. a NUL in its file name
        raise BadRequest("a part of the upload form has a header the server cannot read (a file or field name "
                         "with a control character such as NUL?): rename the file and send it again",
                         kind="invalid_form") from None


async def _read_parts(reader, limit: int) -> dict[str, tuple[str, bytes]]:
    fields: dict[str, tuple[str, bytes]] = {}
    total = 0
    async for part in reader:
        data = bytearray()
        while chunk := await part.read_chunk(1 << 16):
            total += len(chunk)
            if total > limit:
                raise BadRequest(f"the upload is larger than the limit of {limit} bytes", status=413,
                                 kind="body_too_large")
            data.extend(chunk)
        fields[part.name or ""] = (part.filename or "", bytes(data))
    return fields


def _text(fields: dict[str, tuple[str, bytes]], name: str, default: str = "") -> str:
    return fields[name][1].decode("utf-8", "replace") if name in fields else default


def _target(state: ServerState, fields: dict[str, tuple[str, bytes]]) -> tuple[str, str, Path]:
    kind = _text(fields, "type", "input") or "input"
    subfolder = _text(fields, "subfolder").strip().strip("/")
    folder = _folder(state, kind)
    return kind, subfolder, _inside(folder, subfolder, kind) if subfolder else folder


def _save(fields: dict, state: ServerState, data: bytes, name: str, image_format: str) -> web.Response:
    kind, subfolder, folder = _target(state, fields)
    overwrite = _text(fields, "overwrite").lower() in ("true", "1")
    name = free_name(folder, stored_name(name, image_format), overwrite)
    write_atomically(folder, name, data)
    return web.json_response({"name": name, "subfolder": subfolder, "type": kind})


@routes.post("/upload/image")
async def upload_image(request: web.Request) -> web.Response:
    state = _state(request)
    fields = await _read_form(request)
    if "image" not in fields:
        raise BadRequest("the form has no field named 'image'")
    filename, data = fields["image"]
    image = checked_image(data, state.settings.max_upload_pixels)
    return _save(fields, state, data, filename, image.format)


@routes.post("/upload/mask")
async def upload_mask(request: web.Request) -> web.Response:
    """ComfyUI's mask editor: the mask's alpha replaces the alpha of the original image, saved as a new PNG."""
    state = _state(request)
    fields = await _read_form(request)
    if "image" not in fields or "original_ref" not in fields:
        raise BadRequest("the form needs the fields 'image' (the mask) and 'original_ref'")
    filename, data = fields["image"]
    mask = checked_image(data, state.settings.max_upload_pixels)
    try:
        ref = json.loads(_text(fields, "original_ref"))
        ref_kind, ref_name, ref_sub = ref.get("type", "input"), ref["filename"], ref.get("subfolder", "")
    except (ValueError, KeyError, AttributeError, TypeError):
        raise BadRequest("original_ref must be JSON like {\"filename\": ..., \"subfolder\": ..., \"type\": ...}") \
            from None
    path = _inside(_folder(state, ref_kind), os.path.join(ref_sub, ref_name) if ref_sub else ref_name, ref_kind)
    if not path.is_file():
        raise BadRequest(f"original image '{ref_name}' is not in the {ref_kind} folder", status=404, kind="not_found")
    original = checked_image(path.read_bytes(), state.settings.max_upload_pixels).convert("RGBA")
    alpha = mask.getchannel("A") if "A" in mask.getbands() else mask.convert("L")
    original.putalpha(alpha.resize(original.size))
    buffer = io.BytesIO()
    original.save(buffer, format="PNG")
    return _save(fields, state, buffer.getvalue(), filename, "PNG")
