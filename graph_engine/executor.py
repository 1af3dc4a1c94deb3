"""Running a validated workflow: cache lookups, node calls, events."""
from __future__ import annotations

import dataclasses
import gc
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from . import events as ev
from .blocking import ExecutionBlocker, blocked_message
from .cache import CachePolicy, ResultOrigin
from .calling import (Expansion, ExpandedCalls, NodeOutcome, NodeResult, call_node, merge_calls,
                      requested_lazy_inputs)
from .context import Interrupted, NodeContext, enter_context, leave_context, using_folders
from .errors import RunError, UserFacingError
from .events import EventStream
from .expansion import (MAX_EXPANDED_NODES, MAX_EXPANSION_DEPTH, DynamicPrompt, ExpansionError, expanded_ids,
                        linked_values, renamed_bodies)
from .folders import Folders
from .gcpause import gc_paused
from .plan import Link, Node
from .registry import NodeRegistry
from .signature import signatures
from .validate import ValidationReport, validate_expansion

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
    signatures: dict[str, bytes] = field(default_factory=dict)  # each node's cache key in this run

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS


def _preview(values: list, limit: int = 200) -> list[str]:
    return [text if len(text := repr(v)) <= limit else text[:limit] + "..." for v in values[:4]]


@dataclass
class _PendingExpansion:
    """A node that expanded: its calls' values (Links into the new nodes among them) and what it waits for."""

    calls: tuple[tuple, ...]
    ui: dict[str, list] | None
    links: list[Link]  # the outputs its result is made of
    outputs: list[str]  # output nodes among the new ones: they run before the node counts as done
    seconds: float  # the node's own call; its new nodes are cached (and timed) on their own


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
        self.nodes: dict[str, Node] = dict(report.nodes)  # grows as nodes expand
        self.outputs = set(report.outputs)
        self.graph = DynamicPrompt({str(k): v for k, v in prompt.items()} if isinstance(prompt, dict) else {})
        self.values: dict[bytes, NodeResult] = {}
        self.signatures = signatures(report.nodes, report.order)
        self.result.signatures = self.signatures
        self.uses = Counter(self.signatures[link.source] for nid in report.order
                            for link in report.nodes[nid].links.values())
        self.instances: dict[str, Any] = {}
        self.done: set[str] = set()
        self.expansions: dict[str, _PendingExpansion] = {}
        self.depth: dict[str, int] = {}  # how deeply nested in expansions each added node is
        self.current = ""  # the node being worked on, for error reports
        self.blocked: set[str] = set()  # nodes a blocker stopped in this run (never cached: see run_node)

    def emit(self, event: str, data: dict, *, record: bool = False) -> None:
        if record:
            self.result.messages.append((event, data))
        self.executor.events.emit(event, data)

    def hidden_inputs(self, node: Node) -> dict[str, list]:
        sources = {"PROMPT": self.prompt, "DYNPROMPT": self.graph, "UNIQUE_ID": node.id,
                   "EXTRA_PNGINFO": self.extra_data.get("extra_pnginfo")}
        return {spec.name: [sources.get(spec.type, self.extra_data.get(spec.type.lower()))]
                for spec in node.spec.hidden_inputs}

    def inputs_of(self, node: Node) -> dict[str, list]:
        """Constants, linked values and hidden inputs as lists; a lazy input not evaluated is [None], a rawLink
        input gets the link itself ([source id, output index])."""
        inputs = {name: [value] for name, value in node.constants.items()}
        for name, link in node.links.items():
            if node.socket(name).raw_link:
                inputs[name] = [[link.source, link.index]]
                continue
            produced = self.values.get(self.signatures[link.source])
            inputs[name] = produced.outputs[link.index] if produced is not None else [None]
        inputs.update(self.hidden_inputs(node))
        return inputs

    def release(self, links: Iterable[Link]) -> None:
        """Drop this run's reference to results no later node needs (the cache may still hold them)."""
        for link in links:
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
        """Sources that must run before `node`: its eager inputs, then the lazy ones it asks for; for a node that
        expanded, the new nodes its result comes from and the new output nodes."""
        expansion = self.expansions.get(node.id)
        if expansion is not None:
            return ([link.source for link in expansion.links if self.signatures[link.source] not in self.values]
                    + [nid for nid in expansion.outputs if nid not in self.done])
        if self.signatures[node.id] in self.values:
            return []  # its result is at hand: its sources need not run
        pending = [link.source for name, link in node.links.items()
                   if not node.socket(name).lazy and self.signatures[link.source] not in self.values]
        if pending or not any(node.socket(name).lazy for name in node.links):
            return pending
        asked = requested_lazy_inputs(self.instance(node), node.spec, self.inputs_of(node), node.sockets)
        return [link.source for name, link in node.links.items()
                if name in asked and node.socket(name).lazy and self.signatures[link.source] not in self.values]

    def must_run(self, source: str) -> bool:
        """Whether a source someone waits for has to run: a node that ran already had its result dropped when
        no known node needed it any more, and an expansion may link to it later: take it from the cache, or run
        it again."""
        if source not in self.done:
            return True
        signature = self.signatures[source]
        hit = self.executor.cache.get(signature)
        if hit is not None:
            self.values[signature] = hit
            return False
        log.debug("running node %s again: an expansion needs its result, which was already dropped", source)
        self.done.discard(source)
        return True

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
            self.failed(self.nodes[self.current], exc)
        else:
            if self.result.error is None:  # a blocker with a message already made the run fail
                self.emit(ev.EXECUTION_SUCCESS, {"prompt_id": self.prompt_id, "timestamp": ev.now_ms()}, record=True)
        self.emit(ev.EXECUTING, {"node": None, "display_node": None, "prompt_id": self.prompt_id})
        return self.result

    def run_outputs(self) -> None:
        """Run what the outputs need, depth first with an explicit stack (no recursion limit on long chains).

        Demand-driven rather than a fixed order, so that a cached node's sources and the lazy
        inputs nobody asks for never run. A node that expands stays on the stack until its new nodes have run.
        """
        for output in self.report.outputs:
            stack = [output]
            waiting: set[str] = set()  # nodes below the top waiting for what is above them
            while stack:
                nid = stack[-1]
                if nid in self.done:
                    stack.pop()
                    continue
                self.current = nid
                pending = [source for source in self.waiting_for(self.nodes[nid]) if self.must_run(source)]
                if pending:
                    if waiting.intersection(pending):
                        raise ExpansionError(f"node {nid} ({self.nodes[nid].class_type}) waits for node "
                                             f"{sorted(waiting.intersection(pending))[0]}, which waits for it: an "
                                             "expansion linked back into the nodes that wait for it")
                    waiting.add(nid)
                    stack.extend(reversed(pending))
                    continue
                if self.run_node(self.nodes[nid]):
                    stack.pop()
                    waiting.discard(nid)
                    self.done.add(nid)

    def run_node(self, node: Node) -> bool:
        """Run (or take from the cache) one node whose sources are ready; False when it expanded instead, and
        waits for its new nodes."""
        if self.executor.interrupt_flag.is_set():
            raise Interrupted(f"interrupted before node {node.id}")
        signature = self.signatures[node.id]
        result = self.values.get(signature)
        if result is None:
            expansion = self.expansions.pop(node.id, None)
            if expansion is None:
                started = time.perf_counter()
                outcome = self.call(node)
                seconds = time.perf_counter() - started
                self.release(node.links.values())
                if isinstance(outcome, ExpandedCalls):
                    self.expand(node, outcome, seconds)
                    return False
                result = outcome
            else:
                seconds = expansion.seconds
                result = merge_calls(node.spec, expansion.calls, [expansion.ui] if expansion.ui else [],
                                     lambda link: self.values[self.signatures[link.source]].outputs[link.index])
                self.release(expansion.links)
            if node.id not in self.blocked:  # evaluated again next time (free: nothing runs), so that a blocker
                self.executor.cache.set(signature, result,  # with a message fails that run the same way
                                        ResultOrigin(node.class_type, seconds, node.spec.outputs_model))
            self.result.executed.append(node.id)
        else:
            self.release(node.links.values())
        if self.uses[signature] > 0:
            self.values[signature] = result
        if node.id in self.outputs and result.ui is not None:
            self.result.outputs[node.id] = result.ui
            self.emit(ev.EXECUTED, {"node": node.id, "display_node": self.graph.get_display_node_id(node.id),
                                    "output": result.ui, "prompt_id": self.prompt_id})
        self.emit(ev.NODE_FINISHED, self.node_ids(node.id))
        return True

    def node_ids(self, node_id: str) -> dict[str, str | None]:
        """The ids an editor places a node's state by: its own, and those of the expansion it came from."""
        return {"node": node_id, "display_node": self.graph.get_display_node_id(node_id),
                "parent_node": self.graph.get_parent_node_id(node_id),
                "real_node": self.graph.get_real_node_id(node_id), "prompt_id": self.prompt_id}

    def call(self, node: Node) -> NodeOutcome:
        interrupt = self.executor.interrupt_flag
        self.emit(ev.EXECUTING, {"node": node.id, "display_node": self.graph.get_display_node_id(node.id),
                                 "prompt_id": self.prompt_id})
        self.emit(ev.NODE_STARTED, self.node_ids(node.id))
        context = NodeContext(self.prompt_id, node.id, node.class_type, self.executor.events, interrupt)
        token = enter_context(context)
        if self.gc_enabled:
            gc.enable()  # the node's own code runs with the collector as the caller had it
        try:
            instance, inputs = self.instance(node), self.inputs_of(node)
            return self.executor.call_wrapper(
                lambda: call_node(instance, node.spec, inputs, node.sockets, lambda b: self.on_blocked(node, b)),
                f"{node.id} ({node.class_type})")
        finally:
            gc.disable()
            leave_context(token)

    def on_blocked(self, node: Node, blocker: ExecutionBlocker) -> ExecutionBlocker:
        """A call of `node` that a blocker stopped: one with a message fails the run (the first such message is its
        error; the rest of the graph still runs, as in ComfyUI) and travels on silently."""
        self.blocked.add(node.id)
        if blocker.message is None:
            return blocker
        real = self.nodes[self.graph.get_real_node_id(node.id)]
        error = RunError(self.prompt_id, blocked_message(blocker), "ExecutionBlocked", node_id=real.id,
                         node_type=real.class_type, executed=list(self.result.executed),
                         current_outputs=list(self.result.outputs))
        log.error("node %s (%s) blocked: %s", node.id, node.class_type, blocker.message)
        if self.result.error is None:
            self.result.status, self.result.error, self.result.user_facing_error = ERROR, error, True
        self.emit(ev.EXECUTION_ERROR, error.to_json(), record=True)
        return ExecutionBlocker(None)

    def expand(self, node: Node, outcome: ExpandedCalls, seconds: float) -> None:
        """Add the nodes `node` returned to the run, checked as a prompt's are; it completes once they have run."""
        depth = self.depth.get(node.id, 0) + 1
        if depth > MAX_EXPANSION_DEPTH:
            raise ExpansionError(
                f"node {node.id} ({node.class_type}) is an expansion {MAX_EXPANSION_DEPTH} levels deep and expands "
                "again: a loop that never ends? Check the loop's condition or its count")
        bodies, calls = self.new_nodes(node, outcome)
        checked = validate_expansion(bodies, self.nodes, self.executor.registry)
        links = [value for values in calls for value in values if isinstance(value, Link)]
        problems = checked.problems + self.bad_result_links(links, bodies, checked.nodes)
        if problems:
            raise ExpansionError(f"node {node.id} ({node.class_type}) expanded into nodes that cannot run: "
                                 + "; ".join(problems))
        self.add_nodes(node, bodies, checked.nodes, checked.order, depth)
        for link in links:
            self.uses[self.signatures[link.source]] += 1
        outputs = [nid for nid in checked.order if checked.nodes[nid].spec.output_node]
        self.outputs.update(outputs)
        self.expansions[node.id] = _PendingExpansion(tuple(calls), outcome.ui, links, outputs, seconds)

    def new_nodes(self, node: Node, outcome: ExpandedCalls) -> tuple[dict[str, Any], list[tuple]]:
        """The bodies of the nodes each call added, under run-wide ids, and each call's values with Links."""
        bodies: dict[str, Any] = {}
        calls = []
        for index, values in enumerate(outcome.calls):
            if isinstance(values, Expansion):
                ids = expanded_ids(node.id, index, values.graph)
                renamed = renamed_bodies(values.graph, ids)
                clashes = sorted(nid for nid in renamed if nid in bodies or nid in self.nodes)
                if clashes:
                    raise ExpansionError(f"node {node.id} ({node.class_type}) expanded into node {clashes[0]}, an "
                                         "id already in the run; each expansion needs new node ids")
                bodies.update(renamed)
                values = linked_values(values.values, ids)
            calls.append(values)
        if len(self.nodes) - len(self.report.nodes) + len(bodies) > MAX_EXPANDED_NODES:
            raise ExpansionError(f"node {node.id} ({node.class_type}) expands the run past {MAX_EXPANDED_NODES} "
                                 "added nodes: a loop that never ends?")
        return bodies, calls

    def bad_result_links(self, links: list[Link], bodies: dict[str, Any], added: dict[str, Node]) -> list[str]:
        problems = []
        for link in links:
            source = added.get(link.source) or self.nodes.get(link.source)
            if source is None and link.source not in bodies:
                problems.append(f"its result links to node {link.source}, which is neither in the expansion nor in "
                                "the run")
            elif source is not None and not 0 <= link.index < len(source.spec.outputs):
                problems.append(f"its result links to output {link.index} of node {link.source} "
                                f"({source.class_type}), which has {len(source.spec.outputs)}")
        return problems  # a link to a new node that failed its checks: that node's own problem says why

    def add_nodes(self, parent: Node, bodies: dict[str, Any], added: dict[str, Node], order: list[str],
                  depth: int) -> None:
        """Make checked expansion nodes part of the run: graph, signatures, uses, and cached results pinned."""
        for nid in order:
            body = bodies[nid]
            self.graph.add_ephemeral_node(nid, body, parent.id, str(body.get("override_display_id", parent.id)))
            self.depth[nid] = depth
        self.nodes.update(added)
        fresh = signatures(added, order, known=self.signatures)
        self.signatures.update(fresh)
        for nid in order:
            for link in added[nid].links.values():
                self.uses[self.signatures[link.source]] += 1
            hit = self.executor.cache.get(fresh[nid])
            if hit is not None:
                self.values[fresh[nid]] = hit
                self.result.cached.append(nid)

    def interrupted(self, node_id: str) -> None:
        real = self.graph.get_real_node_id(node_id)
        self.result.status = INTERRUPTED
        self.emit(ev.EXECUTION_INTERRUPTED, {"prompt_id": self.prompt_id, "node_id": real,
                                             "node_type": self.nodes[real].class_type,
                                             "executed": list(self.result.executed), "timestamp": ev.now_ms()},
                  record=True)

    def failed(self, node: Node, exc: Exception) -> None:
        """Report the failure on the prompt's node (an editor knows no other), naming the expanded one it was in."""
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
        real = self.nodes[self.graph.get_real_node_id(node.id)]
        error = RunError.from_exception(
            self.prompt_id, exc, node_id=real.id, node_type=real.class_type, executed=list(self.result.executed),
            current_inputs=inputs, current_outputs=list(self.result.outputs))
        if real is not node:
            error = dataclasses.replace(error, exception_message=f"{error.exception_message} (in node {node.id} "
                                        f"({node.class_type}), which node {real.id} expanded into)")
        self.result.error = error
        self.emit(ev.EXECUTION_ERROR, self.result.error.to_json(), record=True)


# Wraps every node call: (call, "id (class_type)") -> result. The app uses it to retry a node once after freeing
# memory when it ran out; the engine itself knows nothing of devices.
CallWrapper = Callable[[Callable[[], NodeOutcome], str], NodeOutcome]


def call_directly(call: Callable[[], NodeOutcome], node: str) -> NodeOutcome:
    return call()


class Executor:
    """Runs validated workflows one at a time, sharing a result cache across runs."""

    def __init__(self, registry: NodeRegistry, cache: CachePolicy, events: EventStream, folders: Folders,
                 call_wrapper: CallWrapper = call_directly) -> None:
        self.registry = registry  # expansions are checked against it
        self.cache = cache
        self.events = events
        self.folders = folders
        self.call_wrapper = call_wrapper
        self.interrupt_flag = threading.Event()

    def run(self, report: ValidationReport, prompt: Any, prompt_id: str, extra_data: dict | None = None) -> RunResult:
        """Run the outputs of a validated report; node failures and interrupts end in the RunResult, not raised.

        The folders are current for the whole run, so IS_CHANGED, check_lazy_status and every node function see
        this installation (set once per run: no cost per node). An interrupt asked for before the run began stops
        it at its first node (a cancel pressed while the prompt was still being checked); the flag is cleared when
        the run ends, so it never reaches the next one."""
        gc_enabled = gc.isenabled()
        try:
            with using_folders(self.folders), gc_paused():
                return _Run(self, report, prompt, prompt_id, extra_data or {}, gc_enabled).execute()
        finally:
            self.interrupt_flag.clear()
