"""Safe by default: loopback Host names only when bound to loopback (DNS rebinding), no cross-site state changes,
a token beyond loopback (moved from the address bar into a cookie), headers that keep browsers from sniffing,
framing or running what is not the canvas, and no server paths, versions or tracebacks in what clients see."""
from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from .replies import json_error

log = logging.getLogger(__name__)

TOKEN_COOKIE = "latentloom_token"
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
SERVER_NAME = "Latentloom"  # the Server header, without versions
# the canvas: its own ES modules and stylesheet only (no inline script or style), images from /view and the
# previews' blob: URLs, fetch and the websocket to this server
CANVAS_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                 "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                 "form-action 'self'; frame-ancestors 'none'")
# /view: a file opened on its own runs nothing and reaches nothing (sandbox: an origin of its own)
VIEW_POLICY = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox; frame-ancestors 'none'"
# every other answer; plugins' own pages keep their scripts, but nothing of this server is framed
BASELINE_POLICY = "frame-ancestors 'none'"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and the localhost names."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The name part of a Host header ('[::1]:8188' -> '::1', 'a:80' -> 'a')."""
    if host_header.startswith("["):
        return host_header[1:host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def cross_site_reason(request: web.Request) -> str | None:
    """Why a request looks like it comes from another site's page, or None."""
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return "the browser marked it cross-site"
    origin = request.headers.get("Origin")
    if origin is None:
        return None  # scripts and API clients send no Origin
    if origin.strip().lower() == "null":
        return "its Origin is null (a sandboxed or file page)"
    parsed = urlsplit(origin)
    if parsed.netloc.lower() != request.headers.get("Host", "").lower():
        return f"its Origin {origin} is not this server"
    return None


def _token_of(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query.get("token") or request.cookies.get(TOKEN_COOKIE)


def guard(bound_to_loopback: bool, token: str | None) -> Callable:
    """The middleware that checks Host, Origin and the token before any route runs."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if bound_to_loopback and not is_loopback(_host_name(request.headers.get("Host", ""))):
            return json_error(403, "forbidden_host", "this server answers only to localhost addresses "
                              "(the Host header names another one: a DNS-rebinding page may be calling it)")
        state_changing = request.method in STATE_CHANGING or request.headers.get("Upgrade", "").lower() == "websocket"
        if state_changing and (reason := cross_site_reason(request)):
            return json_error(403, "cross_site_request", f"cross-site request refused: {reason}")
        if token is not None:
            given = _token_of(request)
            if given is None or not hmac.compare_digest(given.encode(), token.encode()):
                return json_error(401, "unauthorized", "this server needs its access token: open the page as "
                                  "/?token=TOKEN or send 'Authorization: Bearer TOKEN'")
            if request.query.get("token") and request.path == "/" and request.method in ("GET", "HEAD"):
                return _token_to_cookie(request, token)
        return await handler(request)

    return middleware


def _token_to_cookie(request: web.Request, token: str) -> web.Response:
    """The page opened as /?token=T: set the cookie and send the browser to the same address without the token,
    so it leaves the address bar, the history and what is shared from there.

    SameSite=Lax, not Strict: a Strict cookie is not sent on the redirected request when the link was followed
    from another site, and that page would answer 401. Lax still keeps it off other sites' fetches, frames and
    POSTs; our state changes are POSTs and the websocket, which the Origin checks guard as well.
    """
    rest = [(key, value) for key, value in request.query.items() if key != "token"]
    response = web.Response(status=303, headers={"Location": str(request.rel_url.with_query(rest)),
                                                 "Cache-Control": "no-store"})
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Lax")
    return response


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer (an on_response_prepare signal, so errors, files and plugins' routes get them too)."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers.setdefault("Content-Security-Policy", BASELINE_POLICY)
    headers["Server"] = SERVER_NAME


class PathRedactor:
    """Replaces the server's absolute folder paths in messages with names relative to the base folder."""

    def __init__(self, folders: list[tuple[Path, str]]) -> None:
        pairs = {}
        for path, shown in folders:
            for variant in {str(path), str(Path(path).resolve())}:
                pairs[variant.rstrip("/")] = shown
        # longest first, so models/checkpoints is replaced before models
        self._pairs = sorted(pairs.items(), key=lambda pair: -len(pair[0]))
        self._pattern = re.compile("|".join(re.escape(p) for p, _ in self._pairs)) if self._pairs else None
        self._shown = dict(self._pairs)

    def text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._shown[m.group(0)], text)

    def __call__(self, value: Any) -> Any:
        """The same JSON-like value with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self(item) for item in value]
        return value
