"""The engine's front door: validate and run workflows against one registry, cache and event stream."""
from __future__ import annotations

import uuid
from typing import Any, Callable, Collection

from .cache import KEY_HEX_CHARS, CachePolicy, CacheReport, LRUCache
from .context import using_folders
from .errors import WorkflowInvalid
from .events import EventStream
from .executor import CallWrapper, Executor, RunResult, call_directly
from .folders import Folders
from .gcpause import gc_paused
from .registry import NodeRegistry
from .signature import signatures
from .sizing import HOST
from .specs import NodeSpec
from .validate import ValidationReport, validate_prompt


class Engine:
    """Validates and runs API-format workflows; results stay cached between runs.

    `memory_budget` says how many bytes a run may still allocate (e.g. `memory.available_memory`); with it,
    validation refuses nodes whose memory estimate does not fit in that plus what the cache would give back.

    Every call into node code it makes (INPUT_TYPES when file lists are read again, VALIDATE_INPUTS, the memory
    estimates and choice hints, IS_CHANGED, check_lazy_status, the node functions) runs with its `folders` current
    (`current_folders()`), so two engines over two installations in one process never see each other's files.
    """

    def __init__(self, registry: NodeRegistry, folders: Folders, cache: CachePolicy | None = None,
                 events: EventStream | None = None, call_wrapper: CallWrapper = call_directly,
                 memory_budget: Callable[[], int | None] | None = None) -> None:
        self.registry = registry
        self.memory_budget = memory_budget
        self.folders = folders
        self.events = events or EventStream()
        self.cache = cache if cache is not None else LRUCache()
        self._executor = Executor(registry, self.cache, self.events, folders, call_wrapper)

    def validate(self, prompt: Any, targets: Collection[str] | None = None) -> ValidationReport:
        """See validate_prompt; `targets` limits the run to those output nodes (ComfyUI's partial execution)."""
        with using_folders(self.folders), gc_paused():
            return validate_prompt(prompt, self.registry, self._memory_budget(), targets)

    def object_info(self) -> dict[str, dict[str, Any]]:
        """Every node in /object_info's shape, with this installation's files in the combo lists."""
        with using_folders(self.folders):
            return self.registry.object_info()

    def refresh(self, class_type: str) -> NodeSpec | None:
        """One node's spec with its combo lists read again from this installation's files (None: no such node)."""
        with using_folders(self.folders):
            return self.registry.refresh(class_type)

    def _memory_budget(self) -> int | None:
        """The budget now: free memory plus the cache's RAM, which is freed before a node runs out of memory."""
        budget = self.memory_budget() if self.memory_budget is not None else None
        return None if budget is None else budget + self.cache.stats().bytes_by_device.get(HOST, 0)

    def run(self, prompt: Any, *, prompt_id: str | None = None, extra_data: dict | None = None) -> RunResult:
        """Validate then run; raises WorkflowInvalid (carrying the report) when any node has an error."""
        report = self.validate(prompt)
        if not report.ok:
            raise WorkflowInvalid(report)
        return self.execute(report, prompt, prompt_id=prompt_id, extra_data=extra_data)

    def execute(self, report: ValidationReport, prompt: Any, *, prompt_id: str | None = None,
                extra_data: dict | None = None) -> RunResult:
        """Run the outputs that validated in `report` (the others are skipped, as ComfyUI does)."""
        return self._executor.run(report, prompt, prompt_id or str(uuid.uuid4()), extra_data)

    def interrupt(self) -> None:
        """Ask the running workflow to stop at the next node or progress report; one asked for just before a run
        begins stops that run at its first node."""
        self._executor.interrupt_flag.set()

    def clear_interrupt(self) -> None:
        """Forget an interrupt no run took (one asked for after the last run ended)."""
        self._executor.interrupt_flag.clear()

    def result_keys(self, report: ValidationReport) -> dict[str, bool]:
        """The keys (as a CacheReport names its entries) of the results a run of `report` would look for, each with
        whether its node loads a model: what a router matches against a worker's cache. Expanded nodes are not known
        before the run, and are left out."""
        with using_folders(self.folders):
            keys = signatures(report.nodes, report.order)
        return {key.hex()[:KEY_HEX_CHARS]: report.nodes[nid].spec.outputs_model for nid, key in keys.items()}

    def cache_report(self) -> CacheReport:
        """What the result cache holds now (class, bytes per device, compute time, model or not per entry); safe
        while a run is adding to it."""
        return CacheReport(tuple(self.cache.entries()))

    def free(self) -> None:
        """Drop every cached result."""
        self.cache.free()
