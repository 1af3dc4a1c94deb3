"""Build a graph in code, node by node, then run it in this process or on a server."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from graph_engine import Engine, NodeRegistry, NodeSpec
from graph_engine.dynamic_inputs import expand_inputs
from graph_engine.specs import AUTOGROW, InputSpec, types_compatible

from ..startup import Options, build_engine, create_folders
from .failures import WorkflowFailed
from .handles import NodeHandle, Output
from .remote import submit_prompt
from .results import WorkflowResult

if TYPE_CHECKING:
    from .builtin_nodes import BuiltinNodes  # generated stub: typed methods for the built-in nodes
else:
    BuiltinNodes = object


class Workflow(BuiltinNodes):
    """`wf.CheckpointLoaderSimple(ckpt_name=...)` adds a node of any registered class and returns its handle;
    `wf.run()` runs the graph here (the engine and its cache are kept for the next run), `wf.submit(url)` on a
    server. Both raise WorkflowInvalid with the same report as the CLI and the server's /prompt."""

    def __init__(self, registry: NodeRegistry | None = None, options: Options | None = None, *,
                 engine: Engine | None = None) -> None:
        self.options = options or Options()
        if registry is None:
            if engine is None:
                engine, _ = build_engine(self.options)
            registry = engine.registry
        self._engine = engine
        self.registry = registry
        self.nodes: dict[str, tuple[NodeHandle, dict[str, Any]]] = {}

    @property
    def engine(self) -> Engine:
        """The engine of in-process runs, built from `options` on first use when only a registry was given."""
        if self._engine is None:
            self._engine, _ = build_engine(self.options)
        return self._engine

    def add(self, class_type: str, /, **inputs: Any) -> NodeHandle:
        """Add a node; also for class names that are not Python identifiers (`wf.add("Image Blur", ...)`).
        Inputs left out take their declared default, as a node new on the canvas does."""
        spec = self.registry.get(class_type)
        if spec is None:
            raise AttributeError(f"no node type {class_type!r} is registered; a plugin may be missing from "
                                 "custom_nodes (`latentloom nodes` lists the installed ones)")
        node_id = str(len(self.nodes) + 1)
        values = {s.name: s.options["default"] for s in expand_inputs(spec.inputs, inputs)
                  if s.required and "default" in s.options}
        values.update(inputs)
        values.update({name: self._input_value(node_id, spec, name, value, values) for name, value in inputs.items()})
        handle = NodeHandle(node_id, spec)
        self.nodes[node_id] = (handle, values)
        return handle

    def set_inputs(self, node: NodeHandle, **inputs: Any) -> None:
        """Change inputs of a node already added, e.g. a new seed before the next run."""
        handle, values = self.nodes.get(node.node_id, (None, {}))
        if handle is not node:
            raise ValueError(f"{node!r} belongs to another Workflow")
        given = {**values, **inputs}
        values.update({name: self._input_value(node.node_id, node.spec, name, value, given)
                       for name, value in inputs.items()})

    def _input_value(self, node_id: str, spec: NodeSpec, name: str, value: Any, given: dict[str, Any]) -> Any:
        """A constant as given, a link for an output; wrong names and types are refused at once. `given` (the node's
        inputs) decides which sockets dynamic inputs bring (`values.a`, `resize_type.width`)."""
        where = f"node {node_id} ({spec.class_type})"
        sockets = _sockets(spec, given)
        input_spec = sockets.get(name)
        if input_spec is None:
            valid = ", ".join(sockets) or "none"
            raise TypeError(f"{where} has no input {name!r}; its inputs: {valid}")
        if isinstance(value, NodeHandle):
            if len(value) != 1:
                raise TypeError(f"{where} input {name!r}: node {value.node_id} ({value.class_type}) has "
                                f"{len(value)} outputs; pass one of them: "
                                f"{', '.join(o.name for o in value.spec.outputs)}")
            value = value[0]
        if not isinstance(value, Output):
            return value
        if self.nodes.get(value.node.node_id, (None,))[0] is not value.node:
            raise ValueError(f"{where} input {name!r}: {value!r} belongs to another Workflow")
        decides_types = spec.validate_params is not None and "input_types" in spec.validate_params
        if not decides_types and not types_compatible(value.spec, input_spec):
            raise TypeError(f"{where} input {name!r} expects {input_spec.type}, got {value.type} from {value!r}")
        return value.link()

    def __getattr__(self, name: str) -> Any:
        registry = self.__dict__.get("registry")
        if registry is None or name.startswith("_") or registry.get(name) is None:
            raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r} and no node type {name!r} is "
                                 "registered (`latentloom nodes` lists them)")
        add_node = functools.partial(self.add, name)
        add_node.__doc__ = registry.get(name).description or f"Add a {name} node."
        return add_node

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {s.class_type for s in self.registry if s.class_type.isidentifier()})

    def to_api(self) -> dict[str, Any]:
        """The graph in ComfyUI's API format, as `latentloom run` and POST /prompt take it."""
        return {node_id: {"class_type": handle.class_type, "inputs": dict(values)}
                for node_id, (handle, values) in self.nodes.items()}

    def run(self) -> WorkflowResult:
        """Validate and run in this process; WorkflowInvalid or WorkflowFailed (naming the node) when it cannot."""
        engine = self.engine
        create_folders(engine.folders)
        result = engine.run(self.to_api())
        if not result.ok:
            raise WorkflowFailed(result.prompt_id, result.status, result.error.to_json() if result.error else None)
        return WorkflowResult(result.prompt_id, result.outputs, result.executed, result.cached, engine.folders)

    def submit(self, url: str, client_id: str | None = None, wait: bool = True,
               timeout: float = 600.0) -> WorkflowResult | str:
        """Queue on the server at `url` (e.g. http://127.0.0.1:8188); with `wait`, the result when it is done,
        else the prompt id."""
        return submit_prompt(url, self.to_api(), client_id=client_id, wait=wait, timeout=timeout)


def _sockets(spec: NodeSpec, given: dict[str, Any]) -> dict[str, InputSpec]:
    """The inputs a node with inputs `given` takes, by name: its declared ones and those its dynamic inputs bring."""
    return {s.name: s for s in expand_inputs(spec.inputs, given) if not s.hidden and s.type != AUTOGROW}
