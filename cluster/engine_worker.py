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

from graph_engine import CacheReport, RunError, events

log = logging.getLogger(__name__)

EVENT, REFUSED, DONE = "event", "refused", "done"


@dataclass(frozen=True)
class WorkerReport:
    """A worker's state as it sends it after each run (and when it is ready)."""

    name: str
    host: str
    pid: int
    device: str
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
        self.runs = 0
        self.model_loads = 0
        self._lock = threading.Lock()
        self._running: str | None = None
        self._cancelled: set[str] = set()
        self._sink: queue.SimpleQueue | None = None
        self.engine.events.subscribe(self._event)

    def ready(self) -> WorkerReport:
        """Answers once the engine is built (the dispatcher waits for it before sending a prompt)."""
        return self.report()

    def report(self) -> WorkerReport:
        return WorkerReport(self.name, socket.gethostname(), os.getpid(), self.device, self.runs, self.model_loads,
                            self.engine.cache_report())

    def interrupt(self, prompt_id: str) -> None:
        """Stop `prompt_id`: now if it runs, else as soon as it starts."""
        with self._lock:
            if self._running == prompt_id:
                self.engine.interrupt()
            else:
                self._cancelled.add(prompt_id)

    def free(self) -> None:
        """Drop every cached result and move the models off the device (ComfyUI's /free)."""
        from nodes.runtime.devices import unload_models

        self.engine.free()
        unload_models()

    def run(self, prompt: dict, prompt_id: str, extra_data: dict, targets: list[str] | None) -> Iterator[tuple]:
        """Validate and run; yields (EVENT, name, data) as the engine emits them, then (DONE, ok, outputs, messages,
        report), or (REFUSED, RunError) when the prompt does not validate here (a model file missing on this
        machine)."""
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
            self._running, self._sink = prompt_id, sink
            if prompt_id in self._cancelled:  # the dispatcher sends one run at a time: older ids are late, not early
                self.engine.interrupt()
            self._cancelled.clear()
        thread = threading.Thread(target=execute, name=f"latentloom-{self.name}-run", daemon=True)
        thread.start()
        try:
            while (item := sink.get()) is not None:
                yield (EVENT, *item)
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
        yield DONE, result.ok, result.outputs, [list(m) for m in result.messages], self.report()

    def _event(self, event: str, data: dict[str, Any]) -> None:
        """An engine event into the running prompt's stream; a preview travels as JPEG bytes, not as an image."""
        sink = self._sink
        if sink is None:
            return
        if event == events.PREVIEW:
            from web.client_hub import preview_jpeg

            data = {key: value for key, value in data.items() if key != "image"} | {"jpeg": preview_jpeg(data["image"])}
        sink.put((event, data))


def _device_name() -> str:
    from nodes.runtime.devices import device_stats

    devices = device_stats().get("devices", [])
    return devices[0].get("name", "") if devices else ""
