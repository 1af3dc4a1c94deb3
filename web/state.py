"""Everything a route needs, in one object kept on the aiohttp application."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from graph_engine.prompt_queue import PromptQueue

from .client_hub import ClientHub
from .security import PathRedactor
from .services import ServerSettings, Services
from .worker import PromptWorker


@dataclass
class ServerState:
    settings: ServerSettings
    services: Services
    queue: PromptQueue
    hub: ClientHub
    worker: PromptWorker
    redact: PathRedactor
    background_tasks: set[asyncio.Task] = field(default_factory=set)  # kept referenced until done
