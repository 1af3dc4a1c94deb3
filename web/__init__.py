"""The aiohttp server (ComfyUI's HTTP and websocket API, the SQLite queue, the guards) and the canvas."""
from .app import create_app
from .security import is_loopback
from .server import build_state, open_queue, serve
from .services import ServerSettings, ServiceError, Services

__all__ = ["ServerSettings", "ServiceError", "Services", "build_state", "create_app", "is_loopback", "open_queue", "serve"]
