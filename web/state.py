"""Everything a route needs, in one object kept on the aiohttp application."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from graph_engine.prompt_queue import PromptQueue

from .client_hub import ClientHub
from .install_slots import InstallSlots
from .log_buffer import LogBuffer, LogSubscribers
from .security import PathRedactor
from .services import ServerSettings, Services
from .runner import PromptRunner


@dataclass
class ServerState:
    settings: ServerSettings
    services: Services
    queue: PromptQueue
    hub: ClientHub
    worker: PromptRunner
    redact: PathRedactor
    background_tasks: set[asyncio.Task] = field(default_factory=set)  # kept referenced until done
    installs: InstallSlots = field(init=False)
    logs: LogBuffer = field(default_factory=LogBuffer)  # installed on the root logger while the server runs
    log_subscribers: LogSubscribers = field(init=False)

    def __post_init__(self) -> None:
        self.installs = InstallSlots(self.settings.max_running_installs, self.settings.max_waiting_installs)
        self.log_subscribers = LogSubscribers(self.hub, self.redact)
        self.logs.listener = self.log_subscribers.entry_added
