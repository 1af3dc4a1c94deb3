"""JSON bodies in and errors out: every refusal is JSON with a type and a message a person can act on."""
from __future__ import annotations

import errno
import json
import logging
import sys
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

# Lists and objects inside lists and objects: real workflows nest a dozen levels; far deeper values only come from
# mistakes or attacks, and would exhaust the recursion of the code that walks them (echoes in errors, redaction).
MAX_JSON_DEPTH = 128
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


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
    try:
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > limit:
                raise _too_large(limit, None)
    except ConnectionResetError:  # the client went away mid-body: an answer it will not read, not a server error
        raise BadRequest("the connection closed before the whole body arrived", kind="incomplete_body") from None
    return bytes(body)


def _nested_deeper_than(value: Any, levels: int) -> bool:
    """Whether `value` has more than `levels` levels of lists and objects one inside the other (no recursion)."""
    level = [value] if type(value) in (dict, list) else []
    for _ in range(levels):
        below: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict else item
            below += [child for child in children if type(child) is dict or type(child) is list]
        if not below:
            return False
        level = below
    return bool(level)


def _deepest_path(value: Any, levels: int, steps: int = 4) -> str:
    """Where a too deeply nested value goes deep, as 'prompt → 2 → inputs → source' (its first few steps)."""
    path = []
    while len(path) < steps and type(value) in (dict, list):
        pairs = value.items() if type(value) is dict else enumerate(value)
        key, value = next((key, child) for key, child in pairs if _nested_deeper_than(child, levels - len(path) - 1))
        path.append(str(key))
    return " → ".join(path)


def _decode_json(raw: bytes) -> Any:
    """JSON from a request, no deeper than MAX_JSON_DEPTH; BadRequest saying what is wrong otherwise."""
    too_deep = (f"the body's JSON is nested more than {MAX_JSON_DEPTH} levels deep{{where}}; no workflow needs "
                f"that many, so the server accepts at most {MAX_JSON_DEPTH}")
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", kind="invalid_json") from None
    except ValueError:  # Python's limit on converting long digit strings to int
        raise BadRequest(f"the body has a whole number of more than {sys.get_int_max_str_digits()} digits, more "
                         "than the server reads", kind="invalid_json") from None
    except RecursionError:
        raise BadRequest(too_deep.format(where=""), kind="invalid_json") from None
    if _nested_deeper_than(value, MAX_JSON_DEPTH):
        raise BadRequest(too_deep.format(where=f" (at {_deepest_path(value, MAX_JSON_DEPTH)})"), kind="invalid_json")
    return value


async def read_json(request: web.Request, limit: int) -> Any:
    """The decoded JSON body of at most `limit` bytes (an empty body reads as {})."""
    raw = await read_body(request, limit)
    return _decode_json(raw) if raw.strip() else {}


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


def string_list(body: dict[str, Any], name: str, what: str = "prompt ids") -> list[str]:
    """A list of ids, e.g. {"delete": ["a", "b"]}; BadRequest when it is anything else."""
    value = body.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"'{name}' must be a list of {what} (strings)")
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
        if exc.status == 404 and request.match_info.http_exception is exc:
            raise  # no such route: aiohttp's plain "404: Not Found", as ComfyUI answers (some of its callers read
            # any JSON answer as data)
        if exc.status == 404:
            return json_error(404, "http_error", f"no route {request.method} {request.path}")
        # aiohttp's own 413 (a plugin route's body over client_max_size) names the limit only in its text
        return json_error(exc.status, "http_error", exc.text if exc.status == 413 and exc.text else exc.reason)
    except ConnectionResetError:
        raise
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            log.error("request %s %s: the disk is full: %s", request.method, request.path, exc)
            return json_error(507, "disk_full", "the disk is full: the server could not save what this request "
                              "needs; free some space on the disk of its folders (user/, output/) and try again")
        log.exception("request %s %s failed", request.method, request.path)
        return json_error(500, "server_error", "the server failed on this request; the details are in its log")
