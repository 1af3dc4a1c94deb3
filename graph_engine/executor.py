"""Running a validated workflow: cache lookups, node calls, events."""
from __future__ import annotations

import gc
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from . import events as ev
from .cache import CachePolicy
from .calling import NodeResult, call_node, requested_lazy_inputs
from .context import Interrupted, NodeContext, enter_context, leave_context, using_folders
from .errors import RunError, UserFacingError
from .events import EventStream
from .folders import Folders
from .gcpause import gc_paused
from .plan import Node
from .signature import signatures
from .validate import ValidationReport

log = logging.getLogger(__name__)

SUCCESS, ERROR, INTERRUPTED = "success", "error", "interrupted"


@dataclass
class RunResult:
    """How a run ended, what its output nodes produced, and the status messages for history."""

    prompt_id: str
    status: str
    outputs: dict[str, dict] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    error: RunError | None = None
    user_facing_error: bool = False  # the error is a UserFacingError: its message is the whole story, no traceback
    messages: list[tuple[str, dict]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS


def _preview(values: list, limit: int = 200) -> list[str]:
    return [text if len(text := repr(v)) <= limit else text[:limit] + "..." for v in values[:4]]


class _Run:
    """The state of one run; lives only while the run does."""

    def __init__(self, executor: "Executor", report: ValidationReport, prompt: Any, prompt_id: str,
                 extra_data: dict, gc_enabled: bool) -> None:
        self.executor = executor
        self.gc_enabled = gc_enabled
        self.report = report
        self.prompt = prompt
        self.prompt_id = prompt_id
        self.extra_data = extra_data
        self.result = RunResult(prompt_id, SUCCESS)
        self.values: dict[bytes, NodeResult] = {}
        self.signatures = signatures(report.nodes, report.order)
        self.uses = Counter(self.signatures[link.source] for nid in report.order
                            for link in report.nodes[nid].links.values())
        self.instances: dict[str, Any] = {}
        self.current = ""  # the node being worked on, for error reports

    def emit(self, event: str, data: dict, *, record: bool = False) -> None:
        if record:
            self.result.messages.append((event, data))
        self.executor.events.emit(event, data)

    def hidden_inputs(self, node: Node) -> dict[str, list]:
        sources = {"PROMPT": self.prompt, "DYNPROMPT": self.prompt, "UNIQUE_ID": node.id,
                   "EXTRA_PNGINFO": self.extra_data.get("extra_pnginfo")}
        return {spec.name: [sources.get(spec.type, self.extra_data.get(spec.type.lower()))]
                for spec in node.spec.hidden_inputs}

    def inputs_of(self, node: Node) -> dict[str, list]:
        """Constants, linked values and hidden inputs as lists; a lazy input not evaluated is [None]."""
        inputs = {name: [value] for name, value in node.constants.items()}
        for name, link in node.links.items():
            produced = self.values.get(self.signatures[link.source])
            inputs[name] = produced.outputs[link.index] if produced is not None else [None]
        inputs.update(self.hidden_inputs(node))
        return inputs

    def release_sources(self, node: Node) -> None:
        """Drop this run's reference to results no later node needs (the cache may still hold them)."""
        for link in node.links.values():
            signature = self.signatures[link.source]
            self.uses[signature] -= 1
            if self.uses[signature] <= 0:
                self.values.pop(signature, None)

    def instance(self, node: Node) -> Any:
        """One instance of the node's class per run, shared by check_lazy_status and the call."""
        if node.id not in self.instances:
            self.instances[node.id] = node.spec.cls()
        return self.instances[node.id]

    def waiting_for(self, node: Node) -> list[str]:
        """Sources that must run before `node`: its eager inputs, then the lazy ones it asks for."""
        inputs = node.spec.inputs
        if self.signatures[node.id] in self.values:
            return []  # its result is at hand: its sources need not run
        pending = [link.source for name, link in node.links.items()
                   if not inputs[name].lazy and self.signatures[link.source] not in self.values]
        if pending or not any(inputs[name].lazy for name in node.links):
            return pending
        asked = requested_lazy_inputs(self.instance(node), node.spec, self.inputs_of(node))
        return [link.source for name, link in node.links.items()
                if name in asked and inputs[name].lazy and self.signatures[link.source] not in self.values]

    def execute(self) -> RunResult:
        cache = self.executor.cache
        self.emit(ev.EXECUTION_START, {"prompt_id": self.prompt_id, "timestamp": ev.now_ms()}, record=True)
        for nid in self.report.order:
            hit = cache.get(self.signatures[nid])
            if hit is not None:
                self.values[self.signatures[nid]] = hit
                self.result.cached.append(nid)
        self.emit(ev.EXECUTION_CACHED, {"nodes": list(self.result.cached), "prompt_id": self.prompt_id,
                                        "timestamp": ev.now_ms()}, record=True)
        try:
            self.run_outputs()
        except Interrupted:
            self.interrupted(self.current)
        except Exception as exc:
            self.failed(self.report.nodes[self.current], exc)
        else:
            self.emit(ev.EXECUTION_SUCCESS, {"prompt_id": self.prompt_id, "timestamp": ev.now_ms()}, record=True)
        self.emit(ev.EXECUTING, {"node": None, "display_node": None, "prompt_id": self.prompt_id})
        return self.result

    def run_outputs(self) -> None:
        """Run what the outputs need, depth first with an explicit stack (no recursion limit on long chains).

        Demand-driven rather than a fixed order, so that a cached node's sources and the lazy
        inputs nobody asks for never run.
        """
        nodes = self.report.nodes
        outputs = set(self.report.outputs)
        done: set[str] = set()
        for output in self.report.outputs:
            stack = [output]
            while stack:
                nid = stack[-1]
                if nid in done:
                    stack.pop()
                    continue
                self.current = nid
                pending = [source for source in self.waiting_for(nodes[nid]) if source not in done]
                if pending:
                    stack.extend(reversed(pending))
                    continue
                stack.pop()
                self.run_node(nodes[nid], nid in outputs)
                done.add(nid)

    def run_node(self, node: Node, is_output: bool) -> None:
        interrupt = self.executor.interrupt_flag
        if interrupt.is_set():
            raise Interrupted(f"interrupted before node {node.id}")
        signature = self.signatures[node.id]
        result = self.values.get(signature)
        if result is None:
            self.emit(ev.EXECUTING, {"node": node.id, "display_node": node.id, "prompt_id": self.prompt_id})
            context = NodeContext(self.prompt_id, node.id, node.class_type, self.executor.events, interrupt)
            token = enter_context(context)
            if self.gc_enabled:
                gc.enable()  # the node's own code runs with the collector as the caller had it
            try:
                instance, inputs = self.instance(node), self.inputs_of(node)
                result = self.executor.call_wrapper(lambda: call_node(instance, node.spec, inputs),
                                                    f"{node.id} ({node.class_type})")
            finally:
                gc.disable()
                leave_context(token)
            self.executor.cache.set(signature, result)
            self.result.executed.append(node.id)
        if self.uses[signature] > 0:
            self.values[signature] = result
        if is_output and result.ui is not None:
            self.result.outputs[node.id] = result.ui
            self.emit(ev.EXECUTED, {"node": node.id, "display_node": node.id, "output": result.ui,
                                    "prompt_id": self.prompt_id})
        self.release_sources(node)

    def interrupted(self, node_id: str) -> None:
        node = self.report.nodes[node_id]
        self.result.status = INTERRUPTED
        self.emit(ev.EXECUTION_INTERRUPTED, {"prompt_id": self.prompt_id, "node_id": node_id,
                                             "node_type": node.class_type, "executed": list(self.result.executed),
                                             "timestamp": ev.now_ms()}, record=True)

    def failed(self, node: Node, exc: Exception) -> None:
        self.result.user_facing_error = isinstance(exc, UserFacingError)
        if self.result.user_facing_error:
            log.error("node %s (%s) failed: %s", node.id, node.class_type, exc)
        else:
            log.error("node %s (%s) failed", node.id, node.class_type, exc_info=exc)
        self.result.status = ERROR
        inputs = {name: [repr(v)[:200]] for name, v in node.constants.items()}
        for name, link in node.links.items():
            produced = self.values.get(self.signatures[link.source])
            if produced is not None:
                inputs[name] = _preview(produced.outputs[link.index])
        self.result.error = RunError.from_exception(
            self.prompt_id, exc, node_id=node.id, node_type=node.class_type, executed=list(self.result.executed),
            current_inputs=inputs, current_outputs=list(self.result.outputs))
        self.emit(ev.EXECUTION_ERROR, self.result.error.to_json(), record=True)


# Wraps every node call: (call, "id (class_type)") -> result. The app uses it to retry a node once after freeing
# memory when it ran out; the engine itself knows nothing of devices.
CallWrapper = Callable[[Callable[[], NodeResult], str], NodeResult]


def call_directly(call: Callable[[], NodeResult], node: str) -> NodeResult:
    return call()


class Executor:
    """Runs validated workflows one at a time, sharing a result cache across runs."""

    def __init__(self, cache: CachePolicy, events: EventStream, folders: Folders,
                 call_wrapper: CallWrapper = call_directly) -> None:
        self.cache = cache
        self.events = events
        self.folders = folders
        self.call_wrapper = call_wrapper
        self.interrupt_flag = threading.Event()

    def run(self, report: ValidationReport, prompt: Any, prompt_id: str, extra_data: dict | None = None) -> RunResult:
        """Run the outputs of a validated report; node failures and interrupts end in the RunResult, not raised.

        The folders are current for the whole run, so IS_CHANGED, check_lazy_status and every node function see
        this installation (set once per run: no cost per node)."""
        self.interrupt_flag.clear()
        gc_enabled = gc.isenabled()
        with using_folders(self.folders), gc_paused():
            return _Run(self, report, prompt, prompt_id, extra_data or {}, gc_enabled).execute()
