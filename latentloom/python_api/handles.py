"""What a Workflow hands back when a node is added: the node, and its outputs to connect to other nodes' inputs."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Iterator, TypeVar

if TYPE_CHECKING:
    from graph_engine import NodeSpec, OutputSpec

SocketType = TypeVar("SocketType", covariant=True)  # a Literal of the socket type name, for type checkers


class Output(Generic[SocketType]):
    """One output of one node: pass it as another node's input to link the two."""

    def __init__(self, node: NodeHandle, index: int) -> None:
        self.node = node
        self.index = index

    @property
    def spec(self) -> OutputSpec:
        return self.node.spec.outputs[self.index]

    @property
    def type(self) -> str:
        return self.spec.type

    def link(self) -> list:
        """The API-format link: [source node id, output index]."""
        return [self.node.node_id, self.index]

    def __repr__(self) -> str:
        return f"<output {self.index} {self.spec.name!r} ({self.type}) of node {self.node.node_id} ({self.node.class_type})>"


class NodeHandle:
    """A node in a Workflow; its outputs are attributes named by RETURN_NAMES (`ckpt.MODEL`), indexes
    (`ckpt[0]`), or unpack in order (`model, clip, vae = ckpt`)."""

    def __init__(self, node_id: str, spec: NodeSpec) -> None:
        self.node_id = node_id
        self.spec = spec

    @property
    def class_type(self) -> str:
        return self.spec.class_type

    @property
    def outputs(self) -> tuple[Output[Any], ...]:
        return tuple(Output(self, i) for i in range(len(self.spec.outputs)))

    def output(self, name: str) -> Output[Any]:
        """The output called `name` (also for names that are not Python identifiers)."""
        for index, spec in enumerate(self.spec.outputs):
            if spec.name == name:
                return Output(self, index)
        names = ", ".join(repr(o.name) for o in self.spec.outputs) or "none"
        raise AttributeError(f"node {self.node_id} ({self.class_type}) has no output {name!r}; its outputs: {names}")

    def __getattr__(self, name: str) -> Output[Any]:
        if name.startswith("__") or "spec" not in self.__dict__:
            raise AttributeError(name)
        return self.output(name)

    def __getitem__(self, index: int) -> Output[Any]:
        count = len(self.spec.outputs)
        if not -count <= index < count:
            raise IndexError(f"node {self.node_id} ({self.class_type}) has {count} output(s); index {index} is out of range")
        return Output(self, index % count)

    def __iter__(self) -> Iterator[Output[Any]]:
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.spec.outputs)

    def __dir__(self) -> list[str]:
        names = [o.name for o in self.spec.outputs if o.name.isidentifier()]
        return sorted(set(super().__dir__()) | set(names))

    def __repr__(self) -> str:
        outputs = ", ".join(f"{o.name}: {o.type}" for o in self.spec.outputs)
        return f"<node {self.node_id} {self.class_type} ({outputs})>"
