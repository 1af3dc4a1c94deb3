"""Graph expansion (ComfyUI's dynamic graphs): a node returns {"result": ..., "expand": graph} and the new nodes run
in its place, under ids derived from its own, with their own cache entries."""
from __future__ import annotations

import pytest

from graph_engine import MAX_EXPANSION_DEPTH, Engine, Folders, NoCache, current_context
from tests.fixtures.registries import builtin_registry

CALLS: list[tuple[str, str]] = []  # (class, node id) of every call


def _called(class_type: str) -> None:
    CALLS.append((class_type, current_context().node_id))


def node(class_type, **inputs):
    return {"class_type": class_type, "inputs": inputs}


NUMBER = ("INT", {"default": 0, "min": -10**6, "max": 10**6})


class OnX:
    """Base of the test nodes with one INT input, x, and an INT output."""

    CATEGORY = "test"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": NUMBER}}


class Add:
    CATEGORY = "test"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": NUMBER, "b": NUMBER}}

    def run(self, a, b):
        _called("Add")
        return (a + b,)


class Show:
    CATEGORY = "test"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*", {})}}

    def run(self, value):
        _called("Show")
        return {"ui": {"value": [value]}}


class TwicePlus:
    """2x + y, by expanding into two Add nodes; with `show`, a Show node in the expansion displays 2x."""

    CATEGORY = "test"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": NUMBER, "y": NUMBER}, "optional": {"show": ("BOOLEAN", {"default": False})}}

    def run(self, x, y, show=False):
        _called("TwicePlus")
        graph = {"twice": node("Add", a=x, b=x), "plus": node("Add", a=["twice", 0], b=y)}
        if show:
            graph["shown"] = node("Show", value=["twice", 0])
        return {"result": (["plus", 0],), "expand": graph}


class Nested(OnX):
    """x + 1 passed through a TwicePlus that it expands into: 2x + 1, two levels of expansion deep."""

    RETURN_TYPES = ("INT", "STRING")

    def run(self, x):
        _called("Nested")
        return {"result": (["inner", 0], "a constant output"), "expand": {"inner": node("TwicePlus", x=x, y=1)}}


class CountUp:
    """A loop in the style of ComfyUI's loop packs: adds `step` to `value` `times` times by re-expanding itself,
    one Add per turn. `value` is lazy: only the last turn asks for it, so the whole chain of Adds runs then."""

    CATEGORY = "test"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"lazy": True}), "times": ("INT", {"default": 1, "min": 0}),
                             "step": NUMBER},
                "hidden": {"dynprompt": "DYNPROMPT", "unique_id": "UNIQUE_ID"}}

    def check_lazy_status(self, times, step, value=None, dynprompt=None, unique_id=None):
        return ["value"] if times == 0 else []

    def run(self, times, step, value=None, dynprompt=None, unique_id=None):
        _called("CountUp")
        if times == 0:
            return (value,)
        assert value is None  # not evaluated: the loop passes the link on instead
        value_link = dynprompt.get_node(unique_id)["inputs"]["value"]
        graph = {"add": node("Add", a=value_link, b=step),
                 "next": node("CountUp", value=["add", 0], times=times - 1, step=step)}
        return {"result": (["next", 0],), "expand": graph}


class Forever(OnX):
    """A loop whose condition never turns: it always expands into itself."""

    def run(self, x):
        return {"result": (["again", 0],), "expand": {"again": node("Forever", x=x)}}


class Range:
    """OUTPUT_IS_LIST: 0 .. count - 1, so that the next node is called once per item."""

    CATEGORY = "test"
    RETURN_TYPES = ("INT",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": NUMBER}}

    def run(self, count):
        return (list(range(count)),)


class LoopStart:
    CATEGORY = "test"
    RETURN_TYPES = ("LOOP", "INT")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": NUMBER}}

    def run(self, value):
        _called("LoopStart")
        return ("loop", value)


class LoopEnd:
    """The end of a while loop as ComfyUI's loop packs write it: while `value` is under `limit`, copy the nodes
    between the start (found through a rawLink) and itself, the start fed with `value`, and return the copy's end.
    The ids are written as ComfyUI's GraphBuilder writes them (prefixed with this node's id)."""

    CATEGORY = "test"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"start": ("LOOP", {"rawLink": True}), "value": ("INT", {"forceInput": True}),
                             "limit": NUMBER},
                "hidden": {"dynprompt": "DYNPROMPT", "unique_id": "UNIQUE_ID"}}

    def run(self, start, value, limit, dynprompt, unique_id):
        _called("LoopEnd")
        if value >= limit:
            return (value,)
        start_id = start[0]
        body = _between(dynprompt, start_id, unique_id)
        prefix = f"{unique_id}.0.0."
        new_id = {nid: prefix + ("End" if nid == unique_id else nid) for nid in body}
        graph = {}
        for nid in body:
            original = dynprompt.get_node(nid)
            inputs = {name: [new_id[v[0]], v[1]] if isinstance(v, list) and v[0] in new_id else v
                      for name, v in original["inputs"].items()}
            graph[new_id[nid]] = {"class_type": original["class_type"], "inputs": inputs, "override_display_id": nid}
        graph[new_id[start_id]]["inputs"]["value"] = value
        return {"result": ([new_id[unique_id], 0],), "expand": graph}


def _between(dynprompt, start_id: str, end_id: str) -> list[str]:
    """The nodes on a path from start to end, both included."""
    reaches: dict[str, bool] = {}

    def visit(nid: str) -> bool:
        if nid not in reaches:
            reaches[nid] = False
            links = [v[0] for v in dynprompt.get_node(nid)["inputs"].values() if isinstance(v, list)]
            reaches[nid] = nid == start_id or any([visit(source) for source in links])
        return reaches[nid]

    visit(end_id)
    return [nid for nid, inside in reaches.items() if inside]


class Box:
    """An object that is not plain data, with the same repr whatever it holds (as large tensors abbreviate)."""

    def __init__(self, n):
        self.n = n

    def __repr__(self):
        return "Box(...)"


class Boxed:
    """Expands into an Unbox fed with a Box constant: an expansion can pass any object as a constant."""

    CATEGORY = "test"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"n": NUMBER}}

    def run(self, n):
        return {"result": (["1", 0],), "expand": {"1": node("Unbox", box=Box(n))}}


class Unbox:
    CATEGORY = "test"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"box": ("*", {})}}

    def run(self, box):
        _called("Unbox")
        return (box.n,)


class AddToNode:
    """Expands into an Add of 100 to output 0 of the node named by `source`, a node already in the run."""

    CATEGORY = "test"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"source": ("STRING", {"default": ""})}}

    def run(self, source):
        return {"result": (["x", 0],), "expand": {"x": node("Add", a=[source, 0], b=100)}}


class Fail(OnX):
    def run(self, x):
        raise ValueError(f"no good: {x}")


class Returns(OnX):
    """Returns the class-level `returned` as is, for malformed expansions."""

    returned = None

    def run(self, x):
        return Returns.returned


NODES = {"Add": Add, "Show": Show, "TwicePlus": TwicePlus, "Nested": Nested, "CountUp": CountUp,
         "Forever": Forever, "Fail": Fail, "Returns": Returns, "Range": Range, "LoopStart": LoopStart,
         "LoopEnd": LoopEnd, "Boxed": Boxed, "Unbox": Unbox, "AddToNode": AddToNode}


@pytest.fixture
def engine(tmp_path) -> Engine:
    CALLS.clear()
    folders = Folders.under(tmp_path)
    return Engine(builtin_registry(folders, NODES), folders)


@pytest.fixture
def events(engine) -> list[tuple[str, dict]]:
    seen: list[tuple[str, dict]] = []
    engine.events.subscribe(lambda event, data: seen.append((event, data)))
    return seen


def ran() -> list[str]:
    return [nid for _, nid in CALLS]


def shown(result, nid: str = "9") -> int:
    return result.outputs[nid]["value"][0]


def test_a_node_runs_the_nodes_it_expands_into_and_returns_a_link_into_them(engine, events):
    prompt = {"1": node("Add", a=2, b=3), "2": node("TwicePlus", x=["1", 0], y=4, show=True),
              "9": node("Show", value=["2", 0])}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert shown(result) == 2 * 5 + 4
    assert ran() == ["1", "2", "2.0.twice", "2.0.plus", "2.0.shown", "9"]
    assert result.executed == ["1", "2.0.twice", "2.0.plus", "2.0.shown", "2", "9"]
    # an output node inside the expansion shows its value under its own id, on the parent's place in the editor
    assert result.outputs["2.0.shown"] == {"value": [10]}
    executing = [(data["node"], data["display_node"]) for event, data in events if event == "executing"]
    assert ("2.0.twice", "2") in executing and ("2.0.plus", "2") in executing
    executed = [(data["node"], data["display_node"]) for event, data in events if event == "executed"]
    assert executed == [("2.0.shown", "2"), ("9", "9")]
    # node_started / node_finished say where a node comes from, for consumers that keep each node's state
    started = {data["node"]: (data["display_node"], data["parent_node"], data["real_node"])
               for event, data in events if event == "node_started"}
    assert started["2.0.twice"] == ("2", "2", "2") and started["2"] == ("2", None, "2")
    assert [data["node"] for event, data in events if event == "node_finished"] == result.executed


def test_nested_expansion(engine):
    prompt = {"1": node("Nested", x=3), "9": node("Show", value=["1", 0]), "8": node("Show", value=["1", 1])}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert shown(result) == 2 * 3 + 1
    assert result.outputs["8"] == {"value": ["a constant output"]}
    assert [nid for nid in ran() if nid.startswith("1")] == ["1", "1.0.inner", "1.0.inner.0.twice",
                                                             "1.0.inner.0.plus"]


def test_expansion_inside_a_cached_subgraph_runs_only_what_changed(engine):
    def prompt(y):
        return {"1": node("Add", a=2, b=3), "2": node("TwicePlus", x=["1", 0], y=y),
                "9": node("Show", value=["2", 0])}

    first = engine.run(prompt(4))
    assert first.ok and shown(first) == 14
    CALLS.clear()
    again = engine.run(prompt(4))
    assert again.ok and shown(again) == 14
    assert ran() == []  # the node that expanded is cached with its resolved result: nothing expands again
    changed = engine.run(prompt(6))
    assert changed.ok and shown(changed) == 16
    # the node expands again; its Add of x + x has the same inputs as before and comes from the cache
    assert ran() == ["2", "2.0.plus", "9"]
    assert "2.0.twice" in changed.cached


def test_a_loop_that_re_expands_itself_with_a_lazy_input(engine):
    prompt = {"1": node("Add", a=10, b=0), "2": node("CountUp", value=["1", 0], times=4, step=3),
              "9": node("Show", value=["2", 0])}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert shown(result) == 10 + 4 * 3
    turns = ["2", "2.0.next", "2.0.next.0.next", "2.0.next.0.next.0.next", "2.0.next.0.next.0.next.0.next"]
    adds = [turn + ".0.add" for turn in turns[:-1]]
    # the lazy value is asked for only on the last turn: until then no Add runs, not even node 1 that feeds the loop
    assert ran() == turns[:-1] + ["1"] + adds + turns[-1:] + ["9"]
    CALLS.clear()
    assert shown(engine.run(prompt)) == 22 and ran() == []


def test_a_while_loop_pack_copies_its_body_until_done(engine, events):
    """Start -> double -> End, looping while the value is under 50: 1 -> 2 -> 4 ... -> 64."""
    prompt = {"1": node("LoopStart", value=1), "2": node("Add", a=["1", 1], b=["1", 1]),
              "3": node("LoopEnd", start=["1", 0], value=["2", 0], limit=50), "9": node("Show", value=["3", 0])}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert shown(result) == 64
    ends = [nid for class_type, nid in CALLS if class_type == "LoopEnd"]
    assert ends == ["3", "3.0.0.End", "3.0.0.End.0.0.End", "3.0.0.End.0.0.End.0.0.End",
                    "3.0.0.End.0.0.End.0.0.End.0.0.End", "3.0.0.End.0.0.End.0.0.End.0.0.End.0.0.End"]
    displayed = {data["node"]: data["display_node"] for event, data in events if event == "executing" and data["node"]}
    assert {displayed[nid] for nid in ends} == {"3"}
    real = {data["node"]: (data["parent_node"], data["real_node"]) for event, data in events if event == "node_started"}
    assert [real[nid] for nid in ends[1:3]] == [("3", "3"), ("3.0.0.End", "3")]
    assert {displayed[nid] for class_type, nid in CALLS if class_type == "Add"} == {"2"}
    CALLS.clear()
    assert shown(engine.run(prompt)) == 64 and CALLS == []


def test_each_call_of_a_mapped_node_expands_on_its_own(engine):
    prompt = {"1": node("Range", count=2), "2": node("TwicePlus", x=["1", 0], y=10), "9": node("Show", value=["2", 0])}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs["9"] == {"value": [10, 12]}
    assert [nid for nid in ran() if nid.startswith("2.")] == ["2.0.twice", "2.0.plus", "2.1.twice", "2.1.plus"]


def test_a_result_made_from_an_object_constant_is_never_reused(engine):
    def prompt(n):
        return {"1": node("Boxed", n=n), "9": node("Show", value=["1", 0])}

    assert shown(engine.run(prompt(3))) == 3
    assert shown(engine.run(prompt(4))) == 4  # the two Boxes have the same repr: only they tell the runs apart
    assert ran() == ["1.0.1", "9", "1.0.1", "9"]


@pytest.mark.parametrize("cache, runs_of_node_1", [(None, 1), (NoCache(), 2)])
def test_an_expansion_linking_to_a_result_the_run_already_dropped(tmp_path, cache, runs_of_node_1):
    """Node 1's only consumer in the prompt (2) runs first, so the run drops its result; then node 3's expansion
    links to it: it comes back from the cache, or without one runs again."""
    CALLS.clear()
    folders = Folders.under(tmp_path)
    engine = Engine(builtin_registry(folders, NODES), folders, cache=cache)
    prompt = {"1": node("Add", a=1, b=2), "2": node("Show", value=["1", 0]),
              "3": node("AddToNode", source="1"), "9": node("Show", value=["3", 0])}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs["2"] == {"value": [3]} and shown(result) == 103
    assert ran().count("1") == runs_of_node_1


def test_an_expansion_into_an_unknown_node_is_a_clear_error_and_the_engine_keeps_serving(engine):
    Returns.returned = {"result": (["1", 0],), "expand": {"1": node("NoSuchNode", a=1)}}
    result = engine.run({"5": node("Returns", x=1), "9": node("Show", value=["5", 0])})
    assert result.status == "error"
    assert result.error.node_id == "5" and result.error.node_type == "Returns"
    message = result.error.exception_message
    assert "node 5 (Returns) expanded into nodes that cannot run" in message
    assert "5.0.1" in message and "NoSuchNode does not exist" in message
    assert result.user_facing_error
    assert engine.run({"1": node("Add", a=1, b=1), "9": node("Show", value=["1", 0])}).ok


@pytest.mark.parametrize("graph, result_links, expected", [
    ({"1": node("Add", a=1)}, (["1", 0],), "input 'b': Required input is missing"),
    ({"1": node("Add", a=1, b=10**7)}, (["1", 0],), "bigger than max"),
    ({"1": node("Add", a=["nowhere", 0], b=1)}, (["1", 0],), "Linked node nowhere does not exist"),
    ({"1": node("Add", a=1, b=1)}, (["2", 0],), "its result links to node 2, which is neither in the expansion"),
    ({"1": node("Add", a=1, b=1)}, (["1", 3],), "its result links to output 3 of node 5.0.1 (Add), which has 1"),
    ({"1": node("Add", a=["2", 0], b=1), "2": node("Add", a=["1", 0], b=1)}, (["1", 0],), "dependency cycle"),
    ({"1": "not a node"}, (["1", 0],), "A node must be an object with 'class_type' and 'inputs'"),
])
def test_an_invalid_expansion_names_its_parent_and_the_problem(engine, graph, result_links, expected):
    Returns.returned = {"result": result_links, "expand": graph}
    result = engine.run({"5": node("Returns", x=1), "9": node("Show", value=["5", 0])})
    assert result.status == "error"
    assert result.error.node_id == "5"
    assert result.error.exception_message.startswith("node 5 (Returns) expanded into nodes that cannot run")
    assert expected in result.error.exception_message


def test_an_expansion_whose_result_is_not_a_tuple_is_an_output_error(engine):
    Returns.returned = {"result": "not a tuple", "expand": {"1": node("Add", a=1, b=1)}}
    result = engine.run({"5": node("Returns", x=1), "9": node("Show", value=["5", 0])})
    assert result.status == "error" and result.error.node_id == "5"
    assert result.error.exception_message == ("Returns.run returned str; it must return a tuple of 1 value(s) "
                                              "matching RETURN_TYPES")


def test_a_result_may_link_to_a_node_already_in_the_run(engine):
    Returns.returned = {"result": (["1", 0],), "expand": {}}
    prompt = {"1": node("Add", a=2, b=3), "8": node("Show", value=["1", 0]), "5": node("Returns", x=1),
              "9": node("Show", value=["5", 0])}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert shown(result) == 5 and ran().count("1") == 1


@pytest.mark.parametrize("extra, x", [
    ({"5.0.0.1": node("Add", a=1, b=1)}, 1),  # a node of the prompt has the id already
    ({"4": node("Range", count=2)}, ["4", 0]),  # two calls of node 5 both expand into that id
])
def test_an_expansion_into_an_id_already_in_the_run_is_an_error(engine, extra, x):
    Returns.returned = {"result": (["5.0.0.1", 0],), "expand": {"5.0.0.1": node("Add", a=1, b=2)}}
    prompt = {**extra, "5": node("Returns", x=x), "9": node("Show", value=["5", 0]),
              "8": node("Show", value=[next(iter(extra)), 0])}
    result = engine.run(prompt)
    assert result.status == "error"
    assert result.error.exception_message == ("node 5 (Returns) expanded into node 5.0.0.1, an id already in the "
                                              "run; each expansion needs new node ids")


def test_an_expansion_that_links_back_to_its_parent_is_a_cycle_error(engine):
    Returns.returned = {"result": (["1", 0],), "expand": {"1": node("Add", a=["5", 0], b=1)}}
    result = engine.run({"5": node("Returns", x=1), "9": node("Show", value=["5", 0])})
    assert result.status == "error"
    assert "waits for it" in result.error.exception_message


def test_a_node_inside_an_expansion_that_fails_is_reported_on_the_prompt_node(engine):
    Returns.returned = {"result": (["1", 0],), "expand": {"1": node("Fail", x=7)}}
    result = engine.run({"5": node("Returns", x=1), "9": node("Show", value=["5", 0])})
    assert result.status == "error"
    assert result.error.node_id == "5" and result.error.node_type == "Returns"  # the node an editor knows
    assert result.error.exception_message == "no good: 7 (in node 5.0.1 (Fail), which node 5 expanded into)"


def test_an_expansion_that_never_ends_stops_at_the_depth_limit(engine):
    result = engine.run({"1": node("Forever", x=1), "9": node("Show", value=["1", 0])})
    assert result.status == "error"
    assert result.error.node_id == "1"
    assert f"{MAX_EXPANSION_DEPTH} levels deep" in result.error.exception_message
    assert "a loop that never ends" in result.error.exception_message
    assert engine.run({"1": node("Add", a=1, b=1), "9": node("Show", value=["1", 0])}).ok
