"""/jobs: the queue and the history as ComfyUI's jobs (list, one, cancel), which its frontend's panels read."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from .. import jobs
from ..replies import BadRequest, read_object, string_list
from ..state import ServerState

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def _state(request: web.Request) -> ServerState:
    return request.app["state"]


def _statuses(request: web.Request) -> set[str]:
    """The `status` filter: a comma list of job statuses; absent or empty means all."""
    wanted = {part.strip().lower() for part in request.query.get("status", "").split(",") if part.strip()}
    unknown = sorted(wanted - set(jobs.JOB_STATUSES))
    if unknown:
        raise BadRequest(f"status has unknown value(s) {', '.join(repr(s[:40]) for s in unknown)}; use a comma list of "
                         f"{', '.join(jobs.JOB_STATUSES)}, or leave it out for all")
    return wanted or set(jobs.JOB_STATUSES)


def _count(request: web.Request, name: str, default: int, smallest: int) -> int:
    """A whole-number query parameter of at least `smallest`."""
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < smallest:
        raise BadRequest(f"{name} must be a whole number of at least {smallest}, not '{text[:40]}'")
    return value


def _choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str:
    value = request.query.get(name, choices[0]).lower()
    if value not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}, not '{value[:40]}'")
    return value


def _gather(state: ServerState, statuses: set[str]) -> list[dict[str, Any]]:
    """Every job of the wanted statuses (runs in a thread: the history may hold thousands of prompts)."""
    found: list[dict[str, Any]] = []
    if jobs.IN_PROGRESS in statuses:
        found += [jobs.queued_job(item, jobs.IN_PROGRESS) for item in state.queue.running()]
    if jobs.PENDING in statuses:
        found += [jobs.queued_job(item, jobs.PENDING) for item in state.queue.pending()]
    if statuses & jobs.FINISHED_STATUSES:
        finished = (jobs.finished_job(prompt) for prompt in state.queue.finished_prompts())
        found += [job for job in finished if job["status"] in statuses]
    return found


@routes.get("/jobs")
async def list_jobs(request: web.Request) -> web.Response:
    state = _state(request)
    statuses = _statuses(request)
    sort_by = _choice(request, "sort_by", jobs.SORT_KEYS)
    descending = _choice(request, "sort_order", ("desc", "asc")) == "desc"
    limit = min(_count(request, "limit", jobs.MAX_PAGE, 1), jobs.MAX_PAGE)
    offset = _count(request, "offset", 0, 0)
    found = await asyncio.get_running_loop().run_in_executor(None, _gather, state, statuses)
    page, total = jobs.page_of_jobs(found, workflow_id=request.query.get("workflow_id"), sort_by=sort_by,
                                    descending=descending, offset=offset, limit=limit)
    return web.json_response({"jobs": page, "pagination": {"offset": offset, "limit": limit, "total": total,
                                                           "has_more": offset + len(page) < total}})


@routes.get("/jobs/{job_id}")
async def get_job(request: web.Request) -> web.Response:
    queue, job_id = _state(request).queue, request.match_info["job_id"]
    entry = queue.history_entry(job_id)
    if entry is not None:
        return web.json_response(jobs.finished_job_detail(entry))
    for status, items in ((jobs.IN_PROGRESS, queue.running()), (jobs.PENDING, queue.pending())):
        for item in items:
            if item.prompt_id == job_id:
                return web.json_response(jobs.queued_job(item, status, detail=True))
    return web.json_response({"error": "Job not found"}, status=404)


def _cancel(state: ServerState, job_id: str) -> bool:
    """Take a waiting job out of the queue, or interrupt it if it is the one running (it may have started since
    it was asked for); False when it is neither (finished, or unknown): a cancel asks for an outcome, and that
    job has one."""
    if state.queue.delete_pending([job_id]):
        log.info("cancelled waiting prompt %s", job_id)
        return True
    if state.worker.interrupt(job_id):
        log.info("cancelling running prompt %s", job_id)
        return True
    return False


@routes.post("/jobs/{job_id}/cancel")
async def cancel_job(request: web.Request) -> web.Response:
    state = _state(request)
    cancelled = _cancel(state, request.match_info["job_id"])
    if cancelled:
        state.hub.queue_changed_threadsafe()
    return web.json_response({"cancelled": cancelled})


@routes.post("/jobs/cancel")
async def cancel_jobs(request: web.Request) -> web.Response:
    state = _state(request)
    body = await read_object(request, state.settings.max_json_bytes)
    cancelled = any([_cancel(state, job_id) for job_id in string_list(body, "job_ids")])  # every one, not the first
    if cancelled:
        state.hub.queue_changed_threadsafe()
    return web.json_response({"cancelled": cancelled})
