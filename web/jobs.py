"""Queue items and history entries as ComfyUI's jobs (its /jobs shapes): what the frontend's queue, history and
assets panels read. Pure functions: the routes gather the prompts, these shape, filter, sort and page them."""
from __future__ import annotations

from typing import Any, Iterator

from graph_engine.prompt_queue import FinishedPrompt, HistoryEntry, QueueItem, RunStatus

PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED = "pending", "in_progress", "completed", "failed", "cancelled"
JOB_STATUSES = (PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED)
FINISHED_STATUSES = frozenset({COMPLETED, FAILED, CANCELLED})
SORT_KEYS = ("created_at", "execution_duration")
MAX_PAGE = 1000  # jobs in one answer: the frontend asks for 200; a larger or absent limit gets this many

PREVIEW_KINDS = frozenset({"images", "video", "audio", "3d", "text"})
MODEL_3D_SUFFIXES = (".obj", ".fbx", ".gltf", ".glb", ".usdz")
TEXT_FILE_SUFFIXES = (".txt", ".md", ".json")
TEXT_PREVIEW_CHARS = 1024
END_EVENTS = ("execution_success", "execution_error", "execution_interrupted")


def queued_job(item: QueueItem, status: str, *, detail: bool = False) -> dict[str, Any]:
    """A pending or running prompt as a job; `detail` adds what it runs (GET /jobs/{id})."""
    job = _pruned({"id": item.prompt_id, "status": status, "priority": _priority(item.number),
                   "create_time": _create_time(item.extra_data.get("create_time"), []),
                   "outputs_count": 0, "previewable_outputs_count": 0,
                   "workflow_id": _workflow_id(item.extra_data)})
    if detail:
        job["workflow"] = {"prompt": item.prompt, "extra_data": item.extra_data}
    return job


def finished_job(prompt: FinishedPrompt) -> dict[str, Any]:
    """A finished prompt as a job: its status, times, error and first previewable output from the history."""
    messages = [m for m in prompt.status.messages if isinstance(m, (list, tuple)) and len(m) >= 2
                and isinstance(m[1], dict)]
    started = next((data.get("timestamp") for event, data, *_ in messages if event == "execution_start"), None)
    ended = next((data.get("timestamp") for event, data, *_ in reversed(messages) if event in END_EVENTS), None)
    error = next((data for event, data, *_ in reversed(messages) if event == "execution_error"), None)
    files = list(_output_files(prompt.outputs))
    return _pruned({
        "id": prompt.prompt_id, "status": finished_status(prompt.status), "priority": _priority(prompt.number),
        "create_time": _create_time(prompt.create_time, messages),
        "execution_start_time": started, "execution_end_time": ended,
        "execution_error": _frontend_error(error) if error is not None else None,
        "outputs_count": len(files),
        "previewable_outputs_count": sum(1 for _node, kind, item in files if _previewable(kind, item)),
        "preview_output": _preview(prompt.outputs, files),
        "workflow_id": prompt.workflow_id if isinstance(prompt.workflow_id, str) else None,
    })


def finished_job_detail(entry: HistoryEntry) -> dict[str, Any]:
    """GET /jobs/{id} of a finished prompt: the job, its outputs, its history status and what it ran."""
    extra_data = entry.item.extra_data
    job = finished_job(FinishedPrompt(entry.item.number, entry.item.prompt_id, extra_data.get("create_time"),
                                      _workflow_id(extra_data), entry.outputs, entry.status))
    job["outputs"] = _normalized_outputs(entry.outputs)
    job["execution_status"] = entry.status.to_json()
    job["workflow"] = {"prompt": entry.item.prompt, "extra_data": extra_data}
    return job


def finished_status(status: RunStatus) -> str:
    """ComfyUI's reading of a history status: an error that is an interrupt (a cancel, a stop) is `cancelled`."""
    if status.status_str != "error":
        return COMPLETED
    interrupted = any(isinstance(m, (list, tuple)) and m and m[0] == "execution_interrupted" for m in status.messages)
    return CANCELLED if interrupted else FAILED


def page_of_jobs(jobs: list[dict[str, Any]], *, workflow_id: str | None = None, sort_by: str = "created_at",
                 descending: bool = True, offset: int = 0, limit: int = MAX_PAGE) -> tuple[list[dict[str, Any]], int]:
    """(the page, how many jobs match) for jobs already filtered by status; newest first by default."""
    if workflow_id:
        jobs = [job for job in jobs if job.get("workflow_id") == workflow_id]
    # jobs queued in the same millisecond: the one later in the queue counts as the newer
    key = _duration if sort_by == "execution_duration" else (lambda job: (job["create_time"], job["priority"]))
    jobs = sorted(jobs, key=key, reverse=descending)
    return jobs[offset:offset + limit], len(jobs)


def _duration(job: dict[str, Any]) -> int:
    start, end = job.get("execution_start_time"), job.get("execution_end_time")
    return end - start if isinstance(start, int) and isinstance(end, int) else 0


def _pruned(job: dict[str, Any]) -> dict[str, Any]:
    """Fields without a value are left out, as ComfyUI leaves them."""
    return {name: value for name, value in job.items() if value is not None}


def _priority(number: float) -> float:
    return int(number) if float(number).is_integer() else number


def _create_time(stored: Any, messages: list) -> int:
    """When it was queued (ms). The frontend requires a number: entries queued before POST /prompt stamped one
    use their first message's time, or 0."""
    if isinstance(stored, int) and not isinstance(stored, bool):
        return stored
    stamps = [data.get("timestamp") for _event, data, *_ in messages]
    return next((stamp for stamp in stamps if isinstance(stamp, int) and not isinstance(stamp, bool)), 0)


def _workflow_id(extra_data: dict[str, Any]) -> str | None:
    info = extra_data.get("extra_pnginfo")
    workflow = info.get("workflow") if isinstance(info, dict) else None
    found = workflow.get("id") if isinstance(workflow, dict) else None
    return found if isinstance(found, str) else None


def _frontend_error(error: dict[str, Any]) -> dict[str, Any]:
    """The execution_error message; a failure outside any node has no node id or type, which the frontend needs
    as strings (it drops the whole list otherwise)."""
    return {**error, "node_id": error.get("node_id") or "", "node_type": error.get("node_type") or "",
            "traceback": error.get("traceback") or []}


def _as_file(item: Any) -> dict[str, Any] | None:
    """An output item that is a file: a dict, or a 3D model's file name (some nodes list those as strings)."""
    if isinstance(item, dict):
        return item
    if isinstance(item, str) and item.lower().endswith(MODEL_3D_SUFFIXES):
        return {"filename": item, "type": "output", "subfolder": "", "mediaType": "3d"}
    return None


def _output_lists(outputs: dict[str, Any]) -> Iterator[tuple[str, str, list]]:
    for node_id, node_outputs in outputs.items():
        if isinstance(node_outputs, dict):
            for kind, items in node_outputs.items():
                if kind != "animated" and isinstance(items, list):  # `animated` is a flag per image, not files
                    yield node_id, kind, items


def _output_files(outputs: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(node id, kind, file) for every file the output nodes listed: what outputs_count counts."""
    for node_id, kind, items in _output_lists(outputs):
        for item in items:
            file = _as_file(item)
            if file is not None:
                yield node_id, kind, file


def _is_text_file(kind: str, item: dict[str, Any]) -> bool:
    return kind == "text" or str(item.get("filename", "")).lower().endswith(TEXT_FILE_SUFFIXES)


def _previewable(kind: str, item: dict[str, Any]) -> bool:
    media = str(item.get("format", ""))
    name = str(item.get("filename", "")).lower()
    return (kind in PREVIEW_KINDS or media.startswith(("video/", "audio/"))
            or name.endswith(MODEL_3D_SUFFIXES + TEXT_FILE_SUFFIXES))


def _preview(outputs: dict[str, Any], files: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any] | None:
    """The output the panels show, as the frontend picks it: a saved image (or video, audio, model) first, then
    any other one (a preview in temp/), then a saved text file, then a node's text."""
    ranked = []
    for node_id, kind, item in files:
        if _previewable(kind, item):
            rank = 2 if _is_text_file(kind, item) else 0 if item.get("type") == "output" else 1
            ranked.append((rank, {**item, "nodeId": node_id, "mediaType": item.get("mediaType", kind)}))
    if ranked:
        return min(ranked, key=lambda pair: pair[0])[1]
    for node_id, kind, items in _output_lists(outputs):
        text = next((item for item in items if isinstance(item, str)), None) if kind == "text" else None
        if text is not None:
            shown = {"content": text[:TEXT_PREVIEW_CHARS], "nodeId": node_id, "mediaType": "text"}
            return {**shown, "truncated": True} if len(text) > TEXT_PREVIEW_CHARS else shown
    return None


def _normalized_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    """The outputs as ComfyUI's job detail gives them: no empty items, 3D model names as file entries."""
    normalized: dict[str, Any] = {}
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, dict):
            normalized[node_id] = node_outputs
            continue
        normalized[node_id] = {kind: [_as_file(item) or item for item in items if item is not None]
                               if kind != "animated" and isinstance(items, list) else items
                               for kind, items in node_outputs.items()}
    return normalized
