"""The capabilities this server announces to ComfyUI's frontend: at GET /features, and over the websocket in answer
to the page's own `feature_flags` message. Only what is really supported is announced: the frontend treats a flag
that is absent as off."""
from __future__ import annotations

from typing import Any

from .services import ServerSettings


def server_features(settings: ServerSettings) -> dict[str, Any]:
    # a page that says it supports preview metadata too gets type-4 previews naming their node; others get type 1
    return {"supports_preview_metadata": True, "max_upload_size": settings.max_upload_bytes}
