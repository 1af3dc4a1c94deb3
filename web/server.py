"""Starting and stopping the server: the SQLite queue (recovered), the worker, the websocket hub, the site."""
from __future__ import annotations

import asyncio
import logging
import signal
import threading
from pathlib import Path

from aiohttp import web

from graph_engine.folders import Folders
from graph_engine.partial_files import empty_folder, remove_abandoned_partials
from graph_engine.prompt_queue_sqlite import SQLitePromptQueue

from .app import create_app
from .client_hub import ClientHub
from .security import PathRedactor
from .services import ServerSettings, Services
from .state import ServerState
from .worker import PromptWorker

log = logging.getLogger(__name__)
DATABASE = "latentloom.db"


def redactor_for(services: Services) -> PathRedactor:
    folders = services.engine.folders
    shown = [(folders.models, "models"), (folders.input, "input"), (folders.output, "output"),
             (folders.temp, "temp"), (folders.user, "user"), (folders.base, ".")]
    return PathRedactor(shown)


def empty_temp(folders: Folders) -> None:
    """Previews live as long as the server that showed them (as in ComfyUI): temp/ starts empty. Runs before the
    worker can write there."""
    emptied = empty_folder(folders.temp)
    if emptied:
        log.info("emptied the temp folder (%d file(s) from an earlier run)", emptied)


def remove_unfinished_files(folders: Folders) -> None:
    """Files of writers killed mid-write, in input/ and output/ (never served meanwhile). Runs beside the worker:
    a big output folder takes a while to walk, and a live writer's file is locked against it."""
    remove_abandoned_partials([folders.input, folders.output])


def build_state(services: Services, settings: ServerSettings, loop: asyncio.AbstractEventLoop) -> ServerState:
    """The queue from user/latentloom.db (prompts left running by a stopped process are filed as interrupted)."""
    services.engine.folders.create()
    empty_temp(services.engine.folders)
    queue = services.queue
    stopped = queue.recover()
    if stopped:
        log.warning("%d prompt(s) were running when the server last stopped; they are in the history as "
                    "interrupted and can be queued again", len(stopped))
    redact = redactor_for(services)
    hub = ClientHub(loop, queue.count_remaining)
    if services.make_runner is not None:
        worker = services.make_runner(services.engine, queue, hub, redact)
    else:
        worker = PromptWorker(services.engine, queue, hub, redact, services.preload, services.unload_models)
    return ServerState(settings, services, queue, hub, worker, redact)


# how long a stopping server lets requests under way finish: aiohttp's 60 s default made a stop wait for a client
# still sending a body the server had refused (it lingers up to 10 s to drain it); a user stopping it wants it to stop
SHUTDOWN_GRACE_S = 1.0


def open_queue(user_folder: Path, max_history: int) -> SQLitePromptQueue:
    return SQLitePromptQueue(user_folder / DATABASE, max_history=max_history)


def _warm_up(services: Services) -> None:
    """Load torch and read the devices in the background, so the first run and /system_stats do not wait for it."""
    try:
        services.device_stats()
    except Exception:
        log.exception("reading the devices failed")


async def serve(services: Services, settings: ServerSettings, ready: threading.Event | None = None) -> None:
    """Run until SIGINT or SIGTERM; pending prompts stay in the queue for the next start."""
    loop = asyncio.get_running_loop()
    state = build_state(services, settings, loop)
    logging.getLogger().addHandler(state.logs)  # the recent log ComfyUI's page shows (/internal/logs)
    runner = web.AppRunner(create_app(state), handle_signals=False, access_log=None,
                           shutdown_timeout=SHUTDOWN_GRACE_S)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    state.worker.start()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    log.info("serving on http://%s:%d%s", host, settings.port, "  (access token required)" if settings.auth_token
             else "")
    threading.Thread(target=_warm_up, args=(services,), name="latentloom-warm-up", daemon=True).start()
    threading.Thread(target=remove_unfinished_files, args=(services.engine.folders,), name="latentloom-tidy",
                     daemon=True).start()
    if ready is not None:
        ready.set()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):
            pass  # not the main thread, or not supported here
    try:
        await stop.wait()
    finally:
        log.info("stopping: the running prompt is interrupted, waiting prompts stay queued")
        await loop.run_in_executor(None, state.worker.stop)
        await state.hub.close_all()
        await runner.cleanup()
        state.queue.close()
        logging.getLogger().removeHandler(state.logs)
