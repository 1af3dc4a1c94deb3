"""Values that used to make the server answer 500 get a 400 that says what is wrong: deeply nested JSON, integers
longer than Python converts, a `number` that is not a finite float, history bounds beyond SQLite's integers."""
from __future__ import annotations

import json

import pytest

from tests.web.client import call, call_json, wait_for_history
from web.replies import MAX_JSON_DEPTH


def cheap_prompt(value) -> dict:
    return {"1": {"class_type": "PrimitiveInt", "inputs": {"value": value}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}


def nested(levels: int, kind=dict):
    """`levels` lists or objects one inside the other, around a 1."""
    value = 1
    for _ in range(levels):
        value = {"a": value} if kind is dict else [value]
    return value


def post_raw(server, path: str, raw: bytes) -> tuple[int, dict]:
    status, _headers, body = call(server.url + path, "POST", raw=raw)
    return status, json.loads(body)


def still_serving(server) -> None:
    assert call_json(server.url + "/queue")[0] == 200 and server.process.poll() is None


@pytest.mark.parametrize("where,body,path", [
    ("prompt → 1 → inputs → value", {"prompt": cheap_prompt(nested(500))}, "/prompt"),  # echoed in node errors
    ("prompt → 2 → inputs → source", {"prompt": {"2": {"class_type": "PreviewAny",
                                                        "inputs": {"source": nested(500, list)}}}}, "/prompt"),
    ("prompt → 1 → class_type", {"prompt": {"1": {"class_type": nested(900), "inputs": {}}}}, "/prompt"),
    ("extra_data → extra_pnginfo → workflow → a", {"prompt": cheap_prompt(1),
                                                   "extra_data": {"extra_pnginfo": {"workflow": nested(600)}}},
     "/prompt"),
    ("workflow → a → a → a", {"to": "ui", "workflow": nested(500)}, "/workflow/convert"),
])
def test_json_nested_hundreds_deep_is_refused_naming_where(live_server, where, body, path):
    status, answer = post_raw(live_server, path, json.dumps(body).encode())
    assert status == 400 and answer["error"]["type"] == "invalid_json"
    message = answer["error"]["message"]
    assert f"more than {MAX_JSON_DEPTH} levels" in message and where in message
    still_serving(live_server)


def test_json_nested_to_the_limit_is_accepted(live_server):
    body = {"prompt": {"2": {"class_type": "PreviewAny", "inputs": {"source": None}}}}
    body["prompt"]["2"]["inputs"]["source"] = nested(MAX_JSON_DEPTH - 4)  # body, prompt, node, inputs: 4 levels
    status, answer = post_raw(live_server, "/prompt", json.dumps(body).encode())
    assert status == 200, answer
    assert wait_for_history(live_server.url, answer["prompt_id"])["status"]["status_str"] == "success"
    body["prompt"]["2"]["inputs"]["source"] = nested(MAX_JSON_DEPTH - 3)
    assert post_raw(live_server, "/prompt", json.dumps(body).encode())[0] == 400


def test_an_integer_of_more_than_4300_digits_is_refused(live_server):
    raw = json.dumps({"prompt": cheap_prompt(0)}).replace('"value": 0', '"value": 1' + "0" * 4400).encode()
    status, answer = post_raw(live_server, "/prompt", raw)
    assert status == 400 and "4300 digits" in answer["error"]["message"]
    still_serving(live_server)


@pytest.mark.parametrize("number", ["1" + "0" * 400, "NaN", "Infinity", "-Infinity", "1e400"])
def test_a_queue_number_that_is_not_a_finite_float_is_refused(live_server, number):
    raw = ('{"prompt": %s, "number": %s}' % (json.dumps(cheap_prompt(1)), number)).encode()
    status, answer = post_raw(live_server, "/prompt", raw)
    assert status == 400 and answer["error"]["type"] == "bad_request", answer
    assert "'number' must be a finite number" in answer["error"]["message"]
    still_serving(live_server)


def test_a_large_finite_queue_number_is_taken(live_server):
    status, answer = post_raw(live_server, "/prompt", json.dumps({"prompt": cheap_prompt(2), "number": 1e300}).encode())
    assert status == 200, answer
    assert wait_for_history(live_server.url, answer["prompt_id"])["status"]["status_str"] == "success"


@pytest.mark.parametrize("query,everything", [(f"max_items={2**63}", True), (f"max_items={10**30}", True),
                                              (f"offset={2**64}&max_items=5", False), (f"max_items={-2**70}", False)])
def test_history_bounds_beyond_64_bits_are_clamped(live_server, query, everything):
    status, answer = post_raw(live_server, "/prompt", json.dumps({"prompt": cheap_prompt(3)}).encode())
    wait_for_history(live_server.url, answer["prompt_id"])
    status, history = call_json(f"{live_server.url}/history?{query}")
    assert status == 200
    assert history == (call_json(live_server.url + "/history")[1] if everything else {})


def test_history_bounds_that_are_not_numbers_are_refused(live_server):
    status, answer = call_json(live_server.url + "/history?max_items=ten")
    assert status == 400 and "max_items must be a whole number" in answer["error"]["message"]
    status, answer = call_json(live_server.url + "/history?offset=1.5")
    assert status == 400 and "offset must be a whole number" in answer["error"]["message"]
