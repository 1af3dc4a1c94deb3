"""Shared fixtures for the graph engine tests: registries, engines, event recording and small test nodes.

The test nodes follow ComfyUI's classic node interface (INPUT_TYPES classmethod, RETURN_TYPES, FUNCTION,
...). Each one records its calls in a class-level log (`CALLS`), so tests can assert exactly what ran.
They are reached through the `tn` fixture (a namespace of the classes), never imported from here.
"""
from __future__ import annotations

import types
from typing import Any, Callable

import pytest

from graph_engine import Engine, EventStream, Folders, NodeRegistry, current_context
from tests.fixtures.registries import builtin_registry as registry_of_builtins

# ---------------------------------------------------------------------------------------------------------
# Test nodes
# ---------------------------------------------------------------------------------------------------------

CALLS: list[tuple[str, str, dict]] = []  # (class_type, node id, kwargs) of every call of a test node


def _record(class_type: str, kwargs: dict) -> None:
    context = current_context()
    CALLS.append((class_type, context.node_id if context is not None else None, dict(kwargs)))


class TInt:
    """A constant INT."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -10**9, "max": 10**9})}}

    def run(self, value):
        _record("TInt", {"value": value})
        return (value,)


class TAdd:
    """a + b on INTs."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        number = ("INT", {"default": 0, "min": -10**9, "max": 10**9})
        return {"required": {"a": number, "b": number}}

    def run(self, a, b):
        _record("TAdd", {"a": a, "b": b})
        return (a + b,)


class TSink:
    """An output node that shows what it receives (any type); `tag` tells copies apart."""

    CATEGORY = "tests"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*", {})}, "optional": {"tag": ("INT", {"default": 0})}}

    def run(self, value, tag=0):
        _record("TSink", {"value": value, "tag": tag})
        return {"ui": {"value": [value]}, "result": ()}


class TFail:
    """Passes its INT through, or raises ValueError when `fail` is true."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {}), "fail": ("BOOLEAN", {"default": False})}}

    def run(self, value, fail):
        _record("TFail", {"value": value, "fail": fail})
        if fail:
            raise ValueError(f"asked to fail on {value}")
        return (value,)


class TRange:
    """OUTPUT_IS_LIST: the list [start, start + 1, ..., start + count - 1] as one list output."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"start": ("INT", {"default": 0}), "count": ("INT", {"default": 1, "min": 0})}}

    def run(self, start, count):
        _record("TRange", {"start": start, "count": count})
        return (list(range(start, start + count)),)


class TCollect:
    """INPUT_IS_LIST: receives every input as a whole list and returns them as one tuple."""

    CATEGORY = "tests"
    RETURN_TYPES = ("*",)
    INPUT_IS_LIST = True
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"values": ("INT", {})}, "optional": {"extra": ("INT", {})}}

    def run(self, values, extra=None):
        _record("TCollect", {"values": values, "extra": extra})
        return ({"values": list(values), "extra": extra},)


class THidden:
    """An output node that shows its hidden inputs."""

    CATEGORY = "tests"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})},
                "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def run(self, value, prompt=None, unique_id=None, extra_pnginfo=None):
        _record("THidden", {"value": value, "prompt": prompt, "unique_id": unique_id, "extra_pnginfo": extra_pnginfo})
        return {"ui": {"prompt": [prompt], "unique_id": [unique_id], "extra_pnginfo": [extra_pnginfo]}, "result": ()}


class TChanged:
    """IS_CHANGED returns the class-level `token`; a test sets it (NaN: always run)."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    token: Any = "same"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    @classmethod
    def IS_CHANGED(cls, value):
        return cls.token

    def run(self, value):
        _record("TChanged", {"value": value})
        return (value,)


class TFresh:
    """NOT_IDEMPOTENT: two copies with the same inputs must not share a result."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    NOT_IDEMPOTENT = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    def run(self, value):
        _record("TFresh", {"value": value})
        return (value,)


class THook:
    """Calls the class-level `hook` (a test sets it) with the node's context, then passes its input through."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    hook: Callable | None = None

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    def run(self, value):
        _record("THook", {"value": value})
        if THook.hook is not None:
            THook.hook(current_context())
        return (value,)


class TReturn:
    """Returns the class-level `returned` as is: lets tests return malformed results."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    returned: Any = (0,)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    def run(self, value):
        _record("TReturn", {"value": value})
        return TReturn.returned


class TSocket:
    """Outputs of socket (non-widget) types, to link into MODEL / union / `*` inputs."""

    CATEGORY = "tests"
    RETURN_TYPES = ("MODEL", "INT,FLOAT", "*", "MASK", "INT, FLOAT")
    RETURN_NAMES = ("model", "number", "anything", "mask", "spaced")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def run(self):
        _record("TSocket", {})
        return ("a model", 1, "anything", "a mask", 2.5)


class TTakes:
    """An output node with one input of each kind validation has to check."""

    CATEGORY = "tests"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "count": ("INT", {"default": 1, "min": 0, "max": 10}),
                "scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0}),
                "mode": (["fast", "slow"], {"default": "fast"}),
            },
            "optional": {
                "model": ("MODEL", {}),
                "text": ("STRING", {}),
                "flag": ("BOOLEAN", {}),
                "image_or_mask": ("IMAGE,MASK", {}),
                "real": ("FLOAT", {}),
                "anything": ("*", {}),
            },
        }

    def run(self, **kwargs):
        _record("TTakes", kwargs)
        return {"ui": {"received": [{k: (v if isinstance(v, (int, float, str, bool)) else repr(v))
                                     for k, v in sorted(kwargs.items())}]}, "result": ()}


TEST_NODES = {
    "TInt": TInt, "TAdd": TAdd, "TSink": TSink, "TFail": TFail, "TRange": TRange, "TCollect": TCollect,
    "THidden": THidden, "TChanged": TChanged, "TFresh": TFresh, "THook": THook, "TReturn": TReturn,
    "TSocket": TSocket, "TTakes": TTakes,
}


def _reset_test_nodes() -> None:
    CALLS.clear()
    TChanged.token = "same"
    THook.hook = None
    TReturn.returned = (0,)


# ---------------------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------------------


class EventRecorder:
    """Records every (event, data) an EventStream emits."""

    def __init__(self, stream: EventStream) -> None:
        self.events: list[tuple[str, dict]] = []
        self.unsubscribe = stream.subscribe(lambda event, data: self.events.append((event, data)))

    def names(self) -> list[str]:
        return [event for event, _ in self.events]

    def of(self, name: str) -> list[dict]:
        return [data for event, data in self.events if event == name]

    def clear(self) -> None:
        self.events.clear()


# ---------------------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_test_nodes():
    _reset_test_nodes()
    yield
    _reset_test_nodes()


@pytest.fixture
def tn() -> types.SimpleNamespace:
    """The test node classes, and CALLS (the call log) with helpers to read it."""

    def ran(class_type: str | None = None) -> list[str]:
        """Node ids of the calls so far, in call order (of one class when given)."""
        return [nid for ct, nid, _ in CALLS if class_type is None or ct == class_type]

    def kwargs_of(class_type: str) -> list[dict]:
        return [kw for ct, _, kw in CALLS if ct == class_type]

    return types.SimpleNamespace(**TEST_NODES, CALLS=CALLS, ran=ran, kwargs_of=kwargs_of, NODES=dict(TEST_NODES))


@pytest.fixture
def folders(tmp_path) -> Folders:
    """The installation the engines of a test use: folders under tmp_path."""
    return Folders.under(tmp_path)


@pytest.fixture
def builtin_registry(folders) -> NodeRegistry:
    """A registry with the built-in nodes only."""
    return registry_of_builtins(folders)


@pytest.fixture
def registry(folders) -> NodeRegistry:
    """A registry with the built-in nodes and the test nodes of this file."""
    return registry_of_builtins(folders, TEST_NODES)


@pytest.fixture
def make_engine(folders, registry) -> Callable[..., Engine]:
    """Engine factory: make_engine(cache=None, registry=None) -> Engine using Folders.under(tmp_path)."""

    default_registry = registry

    def factory(cache=None, registry: NodeRegistry | None = None) -> Engine:
        return Engine(registry if registry is not None else default_registry, folders, cache=cache)

    return factory


@pytest.fixture
def engine(make_engine) -> Engine:
    return make_engine()


@pytest.fixture
def record_events() -> Callable[[Any], EventRecorder]:
    """record_events(engine_or_stream) -> EventRecorder subscribed to its events."""
    recorders: list[EventRecorder] = []

    def start(target) -> EventRecorder:
        stream = target.events if hasattr(target, "events") and not isinstance(target, EventStream) else target
        recorder = EventRecorder(stream)
        recorders.append(recorder)
        return recorder

    yield start
    for recorder in recorders:
        recorder.unsubscribe()


