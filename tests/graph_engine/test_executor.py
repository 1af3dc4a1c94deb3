"""Execution: hidden inputs, return shapes, list semantics, caching, errors, interrupts, progress and events."""
from __future__ import annotations

import math
import time

import pytest

from graph_engine import Interrupted, NoCache, NoFoldersError, UserFacingError, current_context, current_folders


def node(class_type, **inputs):
    return {"class_type": class_type, "inputs": inputs}


def chain_prompt(b=1):
    """1 (TInt 1) -> 2 (TAdd b) -> 3 (TSink); 4 (TInt 2) -> 5 (TSink tag 5)."""
    return {
        "1": node("TInt", value=1),
        "2": node("TAdd", a=["1", 0], b=b),
        "3": node("TSink", value=["2", 0], tag=3),
        "4": node("TInt", value=2),
        "5": node("TSink", value=["4", 0], tag=5),
    }


# ---------------------------------------------------------------------------------------------------------
# Inputs and return values
# ---------------------------------------------------------------------------------------------------------


def test_hidden_inputs_prompt_unique_id_and_extra_pnginfo(engine, tn):
    prompt = {"5": node("THidden", value=1)}
    workflow = {"nodes": [{"id": 5, "type": "THidden"}], "links": []}
    result = engine.run(prompt, extra_data={"extra_pnginfo": {"workflow": workflow}})
    assert result.ok, result.error
    [received] = tn.kwargs_of("THidden")
    assert received["prompt"] == prompt
    assert received["unique_id"] == "5"
    assert received["extra_pnginfo"] == {"workflow": workflow}
    assert result.outputs["5"] == {"prompt": [prompt], "unique_id": ["5"], "extra_pnginfo": [{"workflow": workflow}]}


def test_hidden_extra_pnginfo_is_none_without_extra_data(engine, tn):
    result = engine.run({"9": node("THidden", value=1)})
    assert result.ok
    assert tn.kwargs_of("THidden")[0]["extra_pnginfo"] is None
    assert tn.kwargs_of("THidden")[0]["unique_id"] == "9"


def test_nodes_with_unique_id_do_not_share_results_between_copies(engine, tn):
    result = engine.run({"1": node("THidden", value=1), "2": node("THidden", value=1)})
    assert result.ok
    assert sorted(tn.ran("THidden")) == ["1", "2"]


def test_tuple_and_ui_result_returns(engine, tn):
    tn.TReturn.returned = {"ui": {"note": ["seen"]}, "result": (7,)}
    prompt = {"1": node("TReturn", value=0), "2": node("TSink", value=["1", 0]),
              "3": node("PrimitiveInt", value=4), "4": node("MathInt", a=["3", 0], b=["1", 0], operation="add"),
              "5": node("PreviewAny", source=["4", 0])}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs["2"] == {"value": [7]}
    assert result.outputs["5"] == {"text": ["11"]}
    assert set(result.outputs) == {"2", "5"}  # only output nodes' UI is reported


@pytest.mark.parametrize("returned", [7, None, (1, 2), (), "x", {"ui": "not a dict", "result": (1,)},
                                      {"ui": {}, "result": 5}])
def test_wrong_return_shape_is_an_execution_error_naming_the_node(engine, record_events, tn, returned):
    tn.TReturn.returned = returned
    events = record_events(engine)
    result = engine.run({"1": node("TInt", value=1), "2": node("TReturn", value=["1", 0]),
                         "3": node("TSink", value=["2", 0])})
    assert result.status == "error"
    assert result.error.node_id == "2"
    assert result.error.node_type == "TReturn"
    assert "TReturn" in result.error.exception_message
    [error] = events.of("execution_error")
    assert error["node_id"] == "2"
    assert "execution_success" not in events.names()
    assert tn.ran("TSink") == []


# ---------------------------------------------------------------------------------------------------------
# Lists (INPUT_IS_LIST, OUTPUT_IS_LIST, implicit mapping)
# ---------------------------------------------------------------------------------------------------------


def test_output_list_maps_a_normal_node_and_input_is_list_gets_the_whole_list(engine, tn):
    prompt = {
        "1": node("TRange", start=10, count=3),
        "2": node("TAdd", a=["1", 0], b=100),
        "3": node("TCollect", values=["2", 0]),
        "4": node("TSink", value=["3", 0]),
    }
    result = engine.run(prompt)
    assert result.ok, result.error
    assert tn.kwargs_of("TAdd") == [{"a": 10, "b": 100}, {"a": 11, "b": 100}, {"a": 12, "b": 100}]
    assert tn.kwargs_of("TCollect") == [{"values": [110, 111, 112], "extra": None}]
    assert result.outputs["4"] == {"value": [{"values": [110, 111, 112], "extra": None}]}


def test_input_is_list_node_gets_constants_and_single_outputs_as_one_item_lists(engine, tn):
    prompt = {"1": node("TInt", value=4), "2": node("TCollect", values=["1", 0], extra=9),
              "3": node("TSink", value=["2", 0])}
    assert engine.run(prompt).ok
    assert tn.kwargs_of("TCollect") == [{"values": [4], "extra": [9]}]


def test_shorter_input_lists_repeat_their_last_item(engine, tn):
    prompt = {
        "1": node("TRange", start=0, count=3),
        "2": node("TRange", start=100, count=2),
        "3": node("TAdd", a=["1", 0], b=["2", 0]),
        "4": node("TSink", value=["3", 0]),
    }
    result = engine.run(prompt)
    assert result.ok, result.error
    assert [(kw["a"], kw["b"]) for kw in tn.kwargs_of("TAdd")] == [(0, 100), (1, 101), (2, 101)]
    # the output node is mapped too, and its UI lists are joined
    assert len(tn.ran("TSink")) == 3
    assert result.outputs["4"] == {"value": [100, 102, 103]}


def test_mapped_output_list_node_concatenates_its_lists(engine, tn):
    prompt = {
        "1": node("TRange", start=0, count=2),                   # [0, 1]
        "2": node("TAdd", a=["1", 0], b=["1", 0]),               # [0, 2]  (mapped)
        "3": node("TRange", start=["2", 0], count=2),            # called twice: [0, 1] + [2, 3]
        "4": node("TCollect", values=["3", 0]),
        "5": node("TSink", value=["4", 0]),
    }
    result = engine.run(prompt)
    assert result.ok, result.error
    assert tn.kwargs_of("TRange")[-2:] == [{"start": 0, "count": 2}, {"start": 2, "count": 2}]
    assert tn.kwargs_of("TCollect")[0]["values"] == [0, 1, 2, 3]


# ---------------------------------------------------------------------------------------------------------
# What runs
# ---------------------------------------------------------------------------------------------------------


def test_output_feeding_many_consumers_is_computed_once(engine, tn):
    prompt = {"1": node("TInt", value=3)}
    for i in range(2, 6):
        prompt[str(i)] = node("TAdd", a=["1", 0], b=i)
        prompt[f"s{i}"] = node("TSink", value=[str(i), 0], tag=i)
    result = engine.run(prompt)
    assert result.ok
    assert tn.ran("TInt") == ["1"]
    assert sorted(tn.ran("TAdd")) == ["2", "3", "4", "5"]
    assert {nid: out["value"] for nid, out in result.outputs.items()} == {f"s{i}": [3 + i] for i in range(2, 6)}


def test_only_ancestors_of_output_nodes_run(engine, tn):
    prompt = {**chain_prompt(), "8": node("TInt", value=8), "9": node("TAdd", a=["8", 0], b=["1", 0])}
    result = engine.run(prompt)
    assert result.ok
    assert sorted(tn.ran()) == ["1", "2", "3", "4", "5"]
    assert sorted(result.executed) == ["1", "2", "3", "4", "5"]


def test_order_respects_links_even_when_ids_are_reversed(engine, tn):
    prompt = {"1": node("TSink", value=["2", 0]), "2": node("TAdd", a=["3", 0], b=1), "3": node("TInt", value=1)}
    assert engine.run(prompt).ok
    assert tn.ran() == ["3", "2", "1"]


# ---------------------------------------------------------------------------------------------------------
# Caching across runs
# ---------------------------------------------------------------------------------------------------------


def test_second_identical_run_executes_nothing(engine, record_events, tn):
    first = engine.run(chain_prompt())
    assert first.ok and sorted(first.executed) == ["1", "2", "3", "4", "5"]
    tn.CALLS.clear()
    events = record_events(engine)
    second = engine.run(chain_prompt())
    assert second.ok
    assert tn.ran() == []
    assert second.executed == []
    assert sorted(second.cached) == ["1", "2", "3", "4", "5"]
    [cached] = events.of("execution_cached")
    assert sorted(cached["nodes"]) == ["1", "2", "3", "4", "5"]
    assert [d["node"] for d in events.of("executing")] == [None]
    # output nodes still report what they showed (ComfyUI resends `executed` for cached outputs)
    assert second.outputs == first.outputs == {"3": {"value": [2]}, "5": {"value": [2]}}
    assert sorted(d["node"] for d in events.of("executed")) == ["3", "5"]


def test_changing_one_constant_reruns_only_that_node_and_its_descendants(engine, tn):
    assert engine.run(chain_prompt(b=1)).ok
    tn.CALLS.clear()
    result = engine.run(chain_prompt(b=5))
    assert result.ok
    assert tn.ran() == ["2", "3"]
    assert sorted(result.executed) == ["2", "3"]
    assert sorted(result.cached) == ["1", "4", "5"]
    assert result.outputs["3"] == {"value": [6]}
    tn.CALLS.clear()
    assert engine.run(chain_prompt(b=1)).ok  # the earlier result is still cached
    assert tn.ran() == []


def test_a_copied_subgraph_with_the_same_inputs_runs_once(engine, tn):
    prompt = {
        "1": node("TInt", value=5), "2": node("TAdd", a=["1", 0], b=1), "3": node("TSink", value=["2", 0], tag=1),
        "11": node("TInt", value=5), "12": node("TAdd", a=["11", 0], b=1), "13": node("TSink", value=["12", 0], tag=2),
    }
    result = engine.run(prompt)
    assert result.ok
    assert len(tn.ran("TInt")) == 1
    assert len(tn.ran("TAdd")) == 1
    assert sorted(tn.ran("TSink")) == ["13", "3"]
    assert result.outputs == {"3": {"value": [6]}, "13": {"value": [6]}}


def test_is_changed_nan_always_reruns(engine, tn):
    tn.TChanged.token = math.nan
    prompt = {"1": node("TChanged", value=1), "2": node("TSink", value=["1", 0])}
    for _ in range(3):
        assert engine.run(prompt).ok
    assert tn.ran("TChanged") == ["1", "1", "1"]
    assert tn.ran("TSink") == ["2", "2", "2"]  # descendants of an always-run node run again too


def test_is_changed_value_enters_the_cache_key(engine, tn):
    prompt = {"1": node("TChanged", value=1), "2": node("TSink", value=["1", 0]), "3": node("TInt", value=3),
              "4": node("TSink", value=["3", 0], tag=4)}
    tn.TChanged.token = "v1"
    assert engine.run(prompt).ok
    assert engine.run(prompt).ok
    assert tn.ran("TChanged") == ["1"]
    tn.TChanged.token = "v2"
    assert engine.run(prompt).ok
    assert tn.ran("TChanged") == ["1", "1"]
    assert tn.ran("TSink") == ["2", "4", "2"]
    assert tn.ran("TInt") == ["3"]


def test_is_changed_gets_none_for_linked_inputs(make_engine, registry, tn):
    class LinkedChanged:
        seen: list = []
        RETURN_TYPES = ("INT",)
        FUNCTION = "run"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"value": ("INT", {}), "other": ("INT", {})}}

        @classmethod
        def IS_CHANGED(cls, value, other):
            cls.seen.append((value, other))
            return "unchanged"

        def run(self, value, other):
            tn.CALLS.append(("LinkedChanged", current_context().node_id, {}))
            return (value + other,)

    registry.register("LinkedChanged", LinkedChanged, source="tests")
    engine = make_engine()
    prompt = {"1": node("TInt", value=1), "2": node("LinkedChanged", value=2, other=["1", 0]),
              "3": node("TSink", value=["2", 0])}
    assert engine.run(prompt).ok
    assert engine.run(prompt).ok
    # as in ComfyUI, IS_CHANGED sees constants, and None for linked inputs (their values are not known yet)
    assert LinkedChanged.seen[0] == (2, None)
    assert tn.ran("LinkedChanged") == ["2"]  # a constant IS_CHANGED keeps the result cached


def test_not_idempotent_copies_each_run_but_stay_cached_across_runs(engine, tn):
    prompt = {"1": node("TFresh", value=1), "2": node("TFresh", value=1),
              "3": node("TSink", value=["1", 0], tag=3), "4": node("TSink", value=["2", 0], tag=4)}
    assert engine.run(prompt).ok
    assert sorted(tn.ran("TFresh")) == ["1", "2"]
    tn.CALLS.clear()
    assert engine.run(prompt).ok
    assert tn.ran() == []
    # an idempotent node in the same position is shared
    prompt2 = {"1": node("TInt", value=1), "2": node("TInt", value=1),
               "3": node("TSink", value=["1", 0], tag=3), "4": node("TSink", value=["2", 0], tag=4)}
    assert engine.run(prompt2).ok
    assert len(tn.ran("TInt")) == 1


# ---------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------


def failing_prompt(fail):
    return {"1": node("TInt", value=1), "2": node("TAdd", a=["1", 0], b=1),
            "3": node("TFail", value=["2", 0], fail=fail), "4": node("TSink", value=["3", 0]),
            "5": node("TInt", value=9)}  # dangling: never runs


def test_exception_in_a_node_gives_execution_error(engine, record_events, tn):
    events = record_events(engine)
    result = engine.run(failing_prompt(True), prompt_id="p-1")
    assert result.status == "error" and not result.ok
    error = result.error.to_json()
    assert error["prompt_id"] == "p-1"
    assert error["node_id"] == "3"
    assert error["node_type"] == "TFail"
    assert error["exception_message"] == "asked to fail on 2"
    assert error["exception_type"] == "ValueError"
    assert isinstance(error["traceback"], list) and error["traceback"]
    assert any("asked to fail" in line or "raise ValueError" in line for line in error["traceback"])
    assert sorted(error["executed"]) == ["1", "2"]
    assert error["current_inputs"] == {"fail": ["True"], "value": ["2"]} and error["current_outputs"] == []
    [event] = events.of("execution_error")
    assert event == error  # ComfyUI's execution_error message, its fields in ComfyUI's order
    assert list(event) == ["prompt_id", "node_id", "node_type", "executed", "exception_message", "exception_type",
                           "traceback", "current_inputs", "current_outputs", "timestamp"]
    assert "execution_success" not in events.names()
    assert events.names()[-1] == "executing" and events.events[-1][1]["node"] is None
    assert tn.ran("TSink") == []
    assert ("execution_error", event) in result.messages


def test_a_user_facing_error_is_recorded_as_such_and_logged_without_a_traceback(registry, make_engine, caplog):
    class BadFileError(UserFacingError):
        pass

    class ReadsAFile:
        CATEGORY = "tests"
        RETURN_TYPES = ("INT",)
        FUNCTION = "run"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"value": ("INT", {})}}

        def run(self, value):
            raise BadFileError("model.safetensors is truncated: download it again")

    registry.register("ReadsAFile", ReadsAFile, source="tests")
    engine = make_engine()
    with caplog.at_level("ERROR", logger="graph_engine.executor"):
        result = engine.run({"1": node("ReadsAFile", value=1), "2": node("TSink", value=["1", 0])})
    assert result.status == "error" and result.user_facing_error
    assert result.error.exception_message == "model.safetensors is truncated: download it again"
    assert result.error.traceback  # clients and logs that want it still get it
    [record] = caplog.records
    assert record.exc_info is None and "truncated: download it again" in record.getMessage()


def test_any_other_exception_is_logged_with_its_traceback(engine, caplog):
    with caplog.at_level("ERROR", logger="graph_engine.executor"):
        result = engine.run(failing_prompt(True))
    assert result.status == "error" and not result.user_facing_error
    [record] = caplog.records
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_results_before_an_error_stay_cached_and_the_fixed_run_succeeds(engine, tn):
    assert engine.run(failing_prompt(True)).status == "error"
    assert tn.ran() == ["1", "2", "3"]
    tn.CALLS.clear()
    result = engine.run(failing_prompt(False))
    assert result.ok
    assert tn.ran() == ["3", "4"]  # 1 and 2 come from the cache
    assert sorted(result.cached) == ["1", "2"]
    assert result.outputs == {"4": {"value": [2]}}


def test_error_in_one_run_does_not_break_the_next(engine, tn):
    assert engine.run({"1": node("MathInt", a=1, b=0, operation="divide"), "2": node("PreviewAny",
                                                                                      source=["1", 0])}).status == "error"
    result = engine.run({"1": node("MathInt", a=6, b=3, operation="divide"), "2": node("PreviewAny",
                                                                                        source=["1", 0])})
    assert result.ok and result.outputs["2"] == {"text": ["2"]}


# ---------------------------------------------------------------------------------------------------------
# Interrupts and progress
# ---------------------------------------------------------------------------------------------------------


def hook_prompt():
    return {"1": node("TInt", value=1), "2": node("THook", value=["1", 0]), "3": node("TAdd", a=["2", 0], b=1),
            "4": node("TSink", value=["3", 0])}


def test_interrupt_from_inside_a_node_stops_before_the_next(engine, record_events, tn):
    tn.THook.hook = lambda context: engine.interrupt()
    events = record_events(engine)
    result = engine.run(hook_prompt())
    assert result.status == "interrupted" and not result.ok
    assert tn.ran() == ["1", "2"]
    [interrupted] = events.of("execution_interrupted")
    assert interrupted["prompt_id"] == result.prompt_id
    assert "execution_success" not in events.names() and "execution_error" not in events.names()
    assert events.names()[-1] == "executing"
    # the next run is not interrupted, and what ran before the stop is cached
    tn.THook.hook = None
    tn.CALLS.clear()
    result = engine.run(hook_prompt())
    assert result.ok
    assert tn.ran() == ["3", "4"]


def test_an_interrupt_asked_for_before_the_run_stops_it_at_its_first_node_and_no_later_run(engine, record_events, tn):
    # a server's cancel that comes while the taken prompt is still being validated
    events = record_events(engine)
    engine.interrupt()
    result = engine.run(hook_prompt())
    assert result.status == "interrupted" and tn.ran() == []
    assert len(events.of("execution_interrupted")) == 1
    assert engine.run(hook_prompt()).ok and tn.ran() == ["1", "2", "3", "4"]
    engine.interrupt()  # after the run ended: the worker forgets it before it takes the next prompt
    engine.clear_interrupt()
    tn.CALLS.clear()
    assert engine.run(hook_prompt()).ok


def test_progress_raising_interrupted_stops_the_run(engine, record_events, tn):
    def hook(context):
        engine.interrupt()
        context.progress(1, 2)

    tn.THook.hook = hook
    events = record_events(engine)
    result = engine.run(hook_prompt())
    assert result.status == "interrupted"
    [interrupted] = events.of("execution_interrupted")
    assert interrupted["node_id"] == "2"
    assert events.of("progress") == []
    assert tn.ran() == ["1", "2"]
    # THook did not finish, so it runs again next time
    tn.THook.hook = None
    tn.CALLS.clear()
    assert engine.run(hook_prompt()).ok
    assert tn.ran() == ["2", "3", "4"]


def test_stop_requested_while_a_node_reports_progress(engine, record_events, tn):
    seen = []

    def hook(context):
        for step in range(1, 6):
            context.progress(step, 5)
            seen.append(step)

    tn.THook.hook = hook
    events = record_events(engine)
    engine.events.subscribe(lambda event, data: engine.interrupt() if event == "progress" and data["value"] == 2
                            else None)
    result = engine.run(hook_prompt())
    assert result.status == "interrupted"
    # the stop came while step 2 was reported: the report of step 3 raised Interrupted
    assert seen == [1, 2]
    assert [d["value"] for d in events.of("progress")] == [1, 2]
    assert events.of("execution_interrupted")[0]["node_id"] == "2"
    assert tn.ran() == ["1", "2"]


def test_interrupted_can_be_raised_by_a_node_itself(engine, record_events, tn):
    def hook(context):
        raise Interrupted("stop here")

    tn.THook.hook = hook
    events = record_events(engine)
    assert engine.run(hook_prompt()).status == "interrupted"
    assert events.of("execution_interrupted")[0]["node_id"] == "2"


def test_progress_events(engine, record_events, tn):
    tn.THook.hook = lambda context: [context.progress(step, 3) for step in range(1, 4)]
    events = record_events(engine)
    result = engine.run(hook_prompt(), prompt_id="p-progress")
    assert result.ok
    assert events.of("progress") == [{"value": step, "max": 3, "prompt_id": "p-progress", "node": "2"}
                                     for step in (1, 2, 3)]
    names = [(e, d.get("node")) for e, d in events.events if e in ("executing", "progress")]
    assert names == [("executing", "1"), ("executing", "2"), ("progress", "2"), ("progress", "2"),
                     ("progress", "2"), ("executing", "3"), ("executing", "4"), ("executing", None)]


def test_current_context_is_set_only_while_a_node_runs(engine, tn):
    contexts = []
    tn.THook.hook = lambda context: contexts.append((context, current_folders()))
    assert current_context() is None
    result = engine.run(hook_prompt(), prompt_id="p-ctx")
    assert result.ok
    [(context, folders)] = contexts
    assert (context.prompt_id, context.node_id, context.class_type) == ("p-ctx", "2", "THook")
    assert folders is engine.folders
    assert current_context() is None
    with pytest.raises(NoFoldersError):
        current_folders()


# ---------------------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------------------


def test_event_order_of_a_run(engine, record_events):
    events = record_events(engine)
    prompt = {"1": node("TInt", value=1), "2": node("TAdd", a=["1", 0], b=2), "3": node("TSink", value=["2", 0])}
    result = engine.run(prompt, prompt_id="p-42")
    assert result.ok and result.prompt_id == "p-42"
    assert events.names() == ["execution_start", "execution_cached", *["executing", "node_started", "node_finished"] * 2,
                              "executing", "node_started", "executed", "node_finished", "execution_success",
                              "executing"]
    assert all(data["prompt_id"] == "p-42" for _, data in events.events)
    assert events.of("execution_cached")[0]["nodes"] == []
    assert [(d["node"], d["display_node"]) for d in events.of("executing")] == [
        ("1", "1"), ("2", "2"), ("3", "3"), (None, None)]
    assert events.of("node_finished")[0] == {"node": "1", "display_node": "1", "parent_node": None, "real_node": "1",
                                             "prompt_id": "p-42"}
    [executed] = events.of("executed")
    assert executed["node"] == "3" and executed["output"] == {"value": [3]}
    # history keeps the start, cached and end messages
    assert [event for event, _ in result.messages] == ["execution_start", "execution_cached", "execution_success"]


def test_a_failing_event_subscriber_does_not_break_the_run(engine, record_events):
    def broken(event, data):
        raise RuntimeError("subscriber bug")

    engine.events.subscribe(broken)
    events = record_events(engine)
    assert engine.run(chain_prompt()).ok
    assert "execution_success" in events.names()


# ---------------------------------------------------------------------------------------------------------
# --cache none
# ---------------------------------------------------------------------------------------------------------


def test_no_cache_reruns_everything_but_computes_a_fan_out_once_per_run(make_engine, tn):
    engine = make_engine(cache=NoCache())
    prompt = {"1": node("TInt", value=2), "2": node("TAdd", a=["1", 0], b=1), "3": node("TAdd", a=["1", 0], b=2),
              "4": node("TSink", value=["2", 0], tag=4), "5": node("TSink", value=["3", 0], tag=5)}
    for run in (1, 2):
        result = engine.run(prompt)
        assert result.ok
        assert result.cached == []
        assert tn.ran("TInt") == ["1"] * run
        assert len(tn.ran()) == 5 * run
        assert result.outputs == {"4": {"value": [3]}, "5": {"value": [4]}}


# ---------------------------------------------------------------------------------------------------------
# Big graphs
# ---------------------------------------------------------------------------------------------------------

N = 10_000


def test_long_chain_of_10000_nodes_validates_and_runs(engine):
    prompt = {"0": node("TInt", value=0)}
    for i in range(1, N):
        prompt[str(i)] = node("TAdd", a=[str(i - 1), 0], b=1)
    prompt["out"] = node("TSink", value=[str(N - 1), 0])
    started = time.perf_counter()
    report = engine.validate(prompt)
    assert report.ok
    assert len(report.order) == N + 1
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs["out"] == {"value": [N - 1]}
    assert len(result.executed) == N + 1
    again = engine.run(prompt)
    assert again.ok and again.executed == [] and len(again.cached) == N + 1
    assert time.perf_counter() - started < 15


def test_wide_fan_out_of_10000_nodes_validates_and_runs(engine, tn):
    prompt = {"src": node("TInt", value=7)}
    for i in range(N):
        prompt[str(i)] = node("TSink", value=["src", 0], tag=i)
    started = time.perf_counter()
    report = engine.validate(prompt)
    assert report.ok
    assert len(report.outputs) == N
    result = engine.run(prompt)
    assert result.ok, result.error
    assert tn.ran("TInt") == ["src"]
    assert len(tn.ran("TSink")) == N
    assert len(result.outputs) == N and result.outputs["1234"] == {"value": [7]}
    assert time.perf_counter() - started < 15


def test_long_chain_with_an_error_at_the_far_end_reports_it(engine):
    prompt = {"0": node("TInt", value="bad")}
    for i in range(1, N):
        prompt[str(i)] = node("TAdd", a=[str(i - 1), 0], b=1)
    prompt["out"] = node("TSink", value=[str(N - 1), 0])
    report = engine.validate(prompt)
    assert not report.ok
    assert set(report.node_errors) == {"0"}
    assert report.node_errors["0"].dependent_outputs == ["out"]
