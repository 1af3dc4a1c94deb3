"""JSON bodies in and errors out: every refusal is JSON with a type and a message a person can act on."""
from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


class BadRequest(Exception):
    """A request the server refuses; the route's answer is `status` with this JSON error."""

    def __init__(self, message: str, *, status: int = 400, kind: str = "bad_request",
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.body = status, kind, body


def json_error(status: int, kind: str, message: str, **extra: Any) -> web.Response:
    """ComfyUI-shaped error body: {"error": {"type", "message", "details", "extra_info"}, ...extra}."""
    body = {"error": {"type": kind, "message": message, "details": "", "extra_info": {}}, **extra}
    return web.json_response(body, status=status)


def _too_large(limit: int, size: int | None) -> BadRequest:
    """413 naming the limit (and the size when the client declared it)."""
    limit_text = f"{limit} bytes ({limit / (1 << 20):g} MiB)"
    message = (f"the body is {size} bytes; the limit is {limit_text}" if size is not None
               else f"the body is larger than the limit of {limit_text}")
    return BadRequest(message, status=413, kind="body_too_large")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, however many pieces it arrives in; 413 naming the limit once it is over it.

    A declared length is checked before reading; a body sent without one (chunked) is refused as soon as it
    passes the limit, so at most one network chunk more than the limit is ever held."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit, request.content_length)
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit, None)
    return bytes(body)


async def read_json(request: web.Request, limit: int) -> Any:
    """The decoded JSON body of at most `limit` bytes; BadRequest for a body that is too big or not JSON."""
    raw = await read_body(request, limit)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", kind="invalid_json") from None
    except RecursionError:
        raise BadRequest("the body's JSON is nested too deeply", kind="invalid_json") from None


async def read_object(request: web.Request, limit: int) -> dict[str, Any]:
    """A JSON object body (an empty body reads as {})."""
    body = await read_json(request, limit)
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object, not {type(body).__name__}", kind="invalid_json")
    return body


def field(body: dict[str, Any], name: str, kinds: type | tuple[type, ...], default: Any = None) -> Any:
    """body[name] when present and of one of `kinds` (bool is never a number); BadRequest otherwise."""
    value = body.get(name, default)
    if value is None or value is default:
        return value
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool) and bool not in kinds:
        raise BadRequest(f"'{name}' must be {' or '.join(k.__name__ for k in kinds)}, not a boolean")
    if not isinstance(value, kinds):
        raise BadRequest(f"'{name}' must be {' or '.join(k.__name__ for k in kinds)}, not {type(value).__name__}")
    return value


def string_list(body: dict[str, Any], name: str) -> list[str]:
    """A list of ids, e.g. {"delete": ["a", "b"]}; BadRequest when it is anything else."""
    value = body.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"'{name}' must be a list of prompt ids (strings)")
    return value


@web.middleware
async def errors_as_json(request: web.Request, handler) -> web.StreamResponse:
    """Whatever goes wrong in a route becomes a JSON reply; the server keeps serving."""
    try:
        return await handler(request)
    except BadRequest as exc:
        redact = request.app["state"].redact if "state" in request.app else (lambda text: text)
        return json_error(exc.status, exc.kind, redact(str(exc)), **(exc.body or {}))
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return json_error(exc.status, "http_error", exc.reason if exc.status != 404 else
                          f"no route {request.method} {request.path}")
    except ConnectionResetError:
        raise
    except Exception:
        log.exception("request %s %s failed", request.method, request.path)
        return json_error(500, "server_error", "the server failed on this request; the details are in its log")
