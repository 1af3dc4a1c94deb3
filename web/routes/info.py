"""What the server knows: /object_info, /system_stats, /models, /embeddings, /extensions, /features."""
from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from aiohttp import web

from graph_engine import CacheReport

from ..feature_flags import server_features
from ..front_end import extension_scripts
from ..replies import BadRequest
from ..runner import WorkerStatus
from ..state import ServerState

routes = web.RouteTableDef()


def _state(request: web.Request) -> ServerState:
    return request.app["state"]


async def _in_worker_lock(state: ServerState, function, *args) -> Any:
    """Registry reads refresh file lists, which validation may be doing too: one at a time, off the loop."""
    def locked():
        with state.worker.validation_lock:
            return function(*args)

    return await asyncio.get_running_loop().run_in_executor(None, locked)


@routes.get("/features")
async def features(request: web.Request) -> web.Response:
    return web.json_response(server_features(_state(request).settings))


@routes.get("/object_info")
async def object_info(request: web.Request) -> web.Response:
    state = _state(request)
    return web.json_response(await _in_worker_lock(state, state.services.engine.object_info))


@routes.get("/object_info/{class_type}")
async def object_info_of(request: web.Request) -> web.Response:
    state = _state(request)
    name = request.match_info["class_type"]
    spec = await _in_worker_lock(state, state.services.engine.refresh, name)
    return web.json_response({} if spec is None else {name: spec.object_info()})


def _memory() -> tuple[int, int]:
    """(total, available) bytes of RAM."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    available = total
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass
    return total, available


@routes.get("/system_stats")
async def system_stats(request: web.Request) -> web.Response:
    state = _state(request)
    devices = await asyncio.get_running_loop().run_in_executor(None, state.services.device_stats)
    total, available = _memory()
    system = {"os": os.name, "python_version": sys.version, "embedded_python": False, "ram_total": total,
              "ram_free": available, "pytorch_version": devices.get("pytorch_version"), "argv": sys.argv[:1]}
    workers = state.worker.workers()
    held = CacheReport(tuple(entry for worker in workers for entry in worker.cache.entries))
    return web.json_response({"system": system, "devices": devices.get("devices", []),
                              "cache": _cache_summary(held), "workers": [_worker(w) for w in workers]})


@routes.get("/cluster")
async def cluster(request: web.Request) -> web.Response:
    """Latentloom's own: the workers that run prompts (one, local, without --cluster), what each runs and holds."""
    state = _state(request)
    workers = state.worker.workers()
    return web.json_response({"workers": [_worker(w) for w in workers],
                              "queue_pending": max(0, state.queue.count_remaining() - sum(
                                  w.running is not None for w in workers))})


def _worker(status: WorkerStatus) -> dict[str, Any]:
    return {"name": status.name, "state": status.state, "device": status.device, "gpus": list(status.gpu_ids),
            "host": status.host, "pid": status.pid, "running": status.running, "runs": status.runs,
            "model_loads": status.model_loads, "recent": list(status.recent), "cache": _cache_summary(status.cache)}


def _cache_summary(report: CacheReport) -> dict[str, Any]:
    """Latentloom's addition to /system_stats: counts and bytes only (the signatures are for a router)."""
    return {"entries": report.count, "models": report.models, "bytes": report.bytes_by_device,
            "compute_seconds": round(report.compute_seconds, 3)}


@routes.get("/models")
async def model_folders(request: web.Request) -> web.Response:
    """ComfyUI's list of folder names; with ?details=1, every file of every folder described (Latentloom's)."""
    services = _state(request).services
    if not _wants_details(request):
        return web.json_response(services.model_folder_names)
    loop = asyncio.get_running_loop()
    described = [await loop.run_in_executor(None, services.describe_models, folder)
                 for folder in services.model_folder_names]
    return web.json_response(_state(request).redact([entry for entries in described for entry in entries]))


@routes.get("/models/{folder}")
async def models_in(request: web.Request) -> web.Response:
    """ComfyUI's file names of one folder; with ?details=1, each file described."""
    state = _state(request)
    folder = request.match_info["folder"]
    if folder not in state.services.model_folder_names:
        raise BadRequest(f"no model folder '{folder}'; the folders are "
                         f"{', '.join(state.services.model_folder_names)}", status=404, kind="not_found")
    read = state.services.describe_models if _wants_details(request) else state.services.list_models
    return web.json_response(state.redact(await asyncio.get_running_loop().run_in_executor(None, read, folder)))


def _wants_details(request: web.Request) -> bool:
    """ComfyUI's clients call these routes without a query and expect plain names, so details are opt-in."""
    return request.query.get("details", "").lower() in ("1", "true", "yes")


@routes.get("/embeddings")
async def embeddings(request: web.Request) -> web.Response:
    state = _state(request)
    names = await asyncio.get_running_loop().run_in_executor(None, state.services.list_models, "embeddings")
    return web.json_response([os.path.splitext(name)[0] for name in names])


@routes.get("/extensions")
async def extensions(request: web.Request) -> web.Response:
    """The plugins' browser scripts (WEB_DIRECTORY), as URLs the page imports; a served front end's own first."""
    front_end = _state(request).settings.front_end_root
    scripts = extension_scripts(front_end) if front_end is not None else []
    for plugin, folder in sorted(_state(request).services.web_directories.items()):
        for path in sorted(folder.rglob("*.js")):
            scripts.append(f"/extensions/{plugin}/{path.relative_to(folder).as_posix()}")
    return web.json_response(scripts)
