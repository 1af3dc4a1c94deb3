"""A cluster worker: the body of a Ray actor that owns one engine (the installation's registry and plugins, the same
model folders by path, its own result cache and device) and runs the prompts the dispatcher sends it, streaming
their events back as they happen."""
from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any, Iterator

from graph_engine import CacheReport, RunError, RunResult, ValidationReport, events
from graph_engine.cache import KEY_HEX_CHARS, ResultOrigin

from .output_files import read_files
from .portable import NotPortable, portable_copy
from .shared_results import SharedResult

log = logging.getLogger(__name__)

EVENT, FILE, REFUSED, DONE = "event", "file", "refused", "done"
ADOPT_TIMEOUT_S = 60.0  # a shared result that takes longer to arrive is computed here instead


@dataclass(frozen=True)
class WorkerReport:
    """A worker's state as it sends it after each run (and when it is ready)."""

    name: str
    host: str
    pid: int
    output_dir: str  # where it writes output files (the server's own, or not)
    device: str
    gpu_ids: tuple[int, ...]  # the GPUs Ray gave it
    runs: int
    model_loads: int
    cache: CacheReport


class EngineWorker:
    """Runs one prompt at a time on its own engine. Ray calls its methods on a few threads (so an interrupt reaches
    a running prompt), in any order: an interrupt that overtakes the run it is meant for is kept for it."""

    def __init__(self, options: Any, name: str) -> None:
        from latentloom.startup import build_engine, create_folders

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        self.name = name
        self.engine, reports = build_engine(options)
        create_folders(self.engine.folders)
        failed = [r.name for r in reports if not r.ok]
        if failed:
            log.warning("worker %s: plugins that failed to load: %s", name, ", ".join(failed))
        self.device = _device_name()
        self.gpu_ids = _gpu_ids()
        self.runs = 0
        self.model_loads = 0
        self._lock = threading.Lock()
        self._running: str | None = None
        self._cancelled: set[str] = set()
        self._sink: queue.SimpleQueue | None = None
        self._send_files = False
        self.engine.events.subscribe(self._event)

    def ready(self) -> WorkerReport:
        """Answers once the engine is built (the dispatcher waits for it before sending a prompt)."""
        return self.report()

    def report(self) -> WorkerReport:
        return WorkerReport(self.name, socket.gethostname(), os.getpid(), str(self.engine.folders.output),
                            self.device, self.gpu_ids, self.runs, self.model_loads, self.engine.cache_report())

    def interrupt(self, prompt_id: str) -> None:
        """Stop `prompt_id`: now if it runs, else as soon as it starts."""
        with self._lock:
            if self._running == prompt_id:
                self.engine.interrupt()
            else:
                self._cancelled.add(prompt_id)

    def free(self, drop_results: bool, unload: bool) -> WorkerReport:
        """ComfyUI's /free here: drop every cached result, and move the models off the device."""
        from nodes.runtime.devices import unload_models

        if drop_results:
            self.engine.free()
        if unload:
            unload_models()
        return self.report()

    def run(self, prompt: dict, prompt_id: str, extra_data: dict, targets: list[str] | None,
            shared: list[SharedResult], publish: bool, send_files: bool) -> Iterator[tuple]:
        """Take the `shared` results other workers computed into the cache, validate and run; yields (EVENT, name,
        data) as the engine emits them (each `executed` preceded, when `send_files`, by a (FILE, type, subfolder,
        filename, bytes) for each file it names), then (DONE, ok, outputs, messages, report, the portable results
        it computed and put in the object store when `publish`), or (REFUSED, RunError) when the prompt does not
        validate here (a model file missing on this machine)."""
        self._adopt(shared)
        report = self.engine.validate(prompt, targets or None)
        if not report.outputs:
            node_id, errors = next(iter(report.node_errors.items()), (None, None))
            error = RunError(prompt_id, "; ".join(report.lines()), "WorkflowInvalid", node_id=node_id,
                             node_type=errors.class_type if errors else None)
            yield REFUSED, error
            return
        sink: queue.SimpleQueue = queue.SimpleQueue()
        outcome: dict[str, Any] = {}

        def execute() -> None:
            try:
                outcome["result"] = self.engine.execute(report, prompt, prompt_id=prompt_id, extra_data=extra_data)
            except BaseException as exc:  # reported to the dispatcher, which files it
                outcome["error"] = exc
            finally:
                sink.put(None)

        with self._lock:
            self.engine.clear_interrupt()
            self._running, self._sink, self._send_files = prompt_id, sink, send_files
            if prompt_id in self._cancelled:  # the dispatcher sends one run at a time: older ids are late, not early
                self.engine.interrupt()
            self._cancelled.clear()
        thread = threading.Thread(target=execute, name=f"latentloom-{self.name}-run", daemon=True)
        thread.start()
        try:
            while (item := sink.get()) is not None:
                yield item
        finally:
            thread.join()
            with self._lock:
                self._running, self._sink = None, None
        if "error" in outcome:
            raise outcome["error"]
        result = outcome["result"]
        self.runs += 1
        self.model_loads += sum(1 for nid in result.executed
                                if nid in report.nodes and report.nodes[nid].spec.outputs_model)
        published = self._publish(report, result) if publish else []
        yield DONE, result.ok, result.outputs, [list(m) for m in result.messages], self.report(), published

    def _adopt(self, shared: list[SharedResult]) -> None:
        """Another worker's results into this cache, as if computed here; one whose object is gone (its worker
        died) is computed again instead."""
        import ray

        for item in shared:
            try:
                value = ray.get(item.ref, timeout=ADOPT_TIMEOUT_S)
            except Exception as exc:
                log.warning("worker %s: the shared result of %s from %s is gone (%s); computing it here",
                            self.name, item.class_type, item.worker, type(exc).__name__)
                continue
            self.engine.cache.set(item.key, value, ResultOrigin(item.class_type, item.seconds))

    def _publish(self, report: ValidationReport, result: RunResult) -> list[SharedResult]:
        """The portable results this run computed, copied to the object store for the other workers."""
        import ray

        seconds = {entry.key: entry.seconds for entry in self.engine.cache.entries()}
        published = []
        for node_id in result.executed:
            node, key = report.nodes.get(node_id), result.signatures.get(node_id)
            value = self.engine.cache.get(key) if node is not None and key is not None else None
            if value is None or not node.spec.outputs_portable:
                continue
            try:
                data, nbytes = portable_copy(value)
            except NotPortable:  # e.g. conditioning that carries a ControlNet: models never travel
                continue
            took = seconds.get(key.hex()[:KEY_HEX_CHARS], 0.0)
            published.append(SharedResult(key, ray.put(data), nbytes, node.class_type, took, self.name))
        return published

    def _event(self, event: str, data: dict[str, Any]) -> None:
        """An engine event into the running prompt's stream; a preview travels as JPEG bytes, not as an image."""
        sink = self._sink
        if sink is None:
            return
        if event == events.PREVIEW:
            from web.client_hub import preview_jpeg

            data = {key: value for key, value in data.items() if key != "image"} | {"jpeg": preview_jpeg(data["image"])}
        elif event == events.EXECUTED and self._send_files:
            for file in read_files(self.engine.folders, data.get("output")):
                sink.put((FILE, *file))
        sink.put((EVENT, event, data))


def _gpu_ids() -> tuple[int, ...]:
    import ray

    return tuple(int(gpu) for gpu in ray.get_gpu_ids())


def _device_name() -> str:
    from nodes.runtime.devices import device_stats

    devices = device_stats().get("devices", [])
    return devices[0].get("name", "") if devices else ""
