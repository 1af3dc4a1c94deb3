"""The server never dies on a request: malformed bodies, wrong types and unknown routes get a 4xx JSON error, a
failing node is an execution_error and the next prompt runs; queue order, deletion, history and interrupt."""
from __future__ import annotations

import time
import uuid

import pytest

from tests.fixtures.example_workflows import example_prompt
from tests.web.client import call, call_json, listen, sleep_prompt, text_to_image, wait_for_history


def still_serving(server) -> None:
    assert call_json(server.url + "/queue")[0] == 200
    assert server.process.poll() is None


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe\x00", b"[" * 100000])
def test_bodies_that_are_not_json_objects(live_server, raw):
    status, headers, body = call(live_server.url + "/prompt", "POST", raw=raw)
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    assert b'"error"' in body
    still_serving(live_server)


@pytest.mark.parametrize("body,word", [
    ({"prompt": [1, 2]}, "prompt"),
    ({"prompt": "text"}, "prompt"),
    ({"prompt": {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 1}}}, "client_id": {"a": 1}}, "client_id"),
    ({"prompt": {}, "extra_data": [1]}, "extra_data"),
    ({"prompt": {}, "number": "first"}, "number"),
    ({"prompt": {}, "prompt_id": 5}, "prompt_id"),
])
def test_fields_of_the_wrong_type(live_server, body, word):
    status, answer = call_json(live_server.url + "/api/prompt", "POST", body)
    assert status == 400 and word in answer["error"]["message"]
    still_serving(live_server)


@pytest.mark.parametrize("path,body", [("/queue", {"delete": "abc"}), ("/history", {"delete": [1, 2]}),
                                       ("/interrupt", {"prompt_id": []}), ("/queue", [1])])
def test_queue_and_history_requests_of_the_wrong_shape(live_server, path, body):
    assert call_json(live_server.url + path, "POST", body)[0] == 400
    still_serving(live_server)


def test_unknown_routes_answer_as_comfyui_and_methods_answer_json(live_server):
    status, headers, body = call(live_server.url + "/api/nothing/here")
    assert (status, body) == (404, b"404: Not Found")  # as ComfyUI: its callers read any JSON answer as data
    status, headers, _ = call(live_server.url + "/object_info", "DELETE")
    assert status == 405 and headers["Content-Type"].startswith("application/json")


def test_an_invalid_graph_gets_comfyui_node_errors(live_server):
    prompt = text_to_image()
    prompt["3"]["inputs"]["steps"] = 0
    del prompt["3"]["inputs"]["model"]
    status, answer = call_json(live_server.url + "/prompt", "POST", {"prompt": prompt})
    assert status == 400
    assert answer["error"]["type"] == "prompt_outputs_failed_validation"
    errors = answer["node_errors"]["3"]
    assert errors["class_type"] == "KSampler" and errors["dependent_outputs"] == ["9"]
    kinds = {(e["type"], e["extra_info"]["input_name"]) for e in errors["errors"]}
    assert kinds == {("required_input_missing", "model"), ("value_smaller_than_min", "steps")}


def test_a_model_name_not_installed_keeps_comfyui_shape_and_says_where_it_goes(live_server):
    """ComfyUI's value_not_in_list (type, details, extra_info) with a message naming the folder (relative: no
    server path), the close installed name, and for an empty folder how to install one."""
    prompt = example_prompt("lora.json")
    prompt["4"]["inputs"]["ckpt_name"] = "latentloom-demo-sd1.safetensors"
    status, answer = call_json(live_server.url + "/prompt", "POST", {"prompt": prompt})
    assert status == 400 and answer["error"]["type"] == "prompt_outputs_failed_validation"
    (checkpoint,) = answer["node_errors"]["4"]["errors"]
    assert checkpoint["type"] == "value_not_in_list"
    assert checkpoint["extra_info"] == {"input_name": "ckpt_name", "received_value": "latentloom-demo-sd1.safetensors"}
    assert checkpoint["details"].startswith("ckpt_name: 'latentloom-demo-sd1.safetensors' not in [")
    assert checkpoint["message"].startswith("Value not in list")
    assert "Did you mean 'latentloom-demo-sd1-random-weights.safetensors'?" in checkpoint["message"]
    assert "read from models/checkpoints" in checkpoint["message"]
    (lora,) = answer["node_errors"]["10"]["errors"]
    assert lora["type"] == "value_not_in_list" and lora["extra_info"]["input_name"] == "lora_name"
    assert "models/loras holds no LoRA yet" in lora["message"] and "latentloom models install" in lora["message"]
    assert str(live_server.base_dir) not in str(answer)


@pytest.mark.parametrize("broken, words", [
    ({"class_type": "NoSuchUpscaler", "inputs": {}}, ["NoSuchUpscaler", "#7"]),
    ({"inputs": {"seconds": 0}}, ["class_type", "#7"]),
    (["TestSleep"], ["#7"]),
])
def test_an_unknown_or_malformed_node_refuses_the_whole_prompt(live_server, broken, words):
    """As ComfyUI: 400 invalid_prompt naming the node, nothing queued, even though the node feeds no output."""
    prompt_id = uuid.uuid4().hex
    body = {"prompt": {**sleep_prompt(0, 5), "7": broken}, "prompt_id": prompt_id}
    status, answer = call_json(live_server.url + "/prompt", "POST", body)
    assert status == 400, answer
    assert answer["error"]["type"] == "invalid_prompt"
    text = answer["error"]["message"] + " " + answer["error"]["details"]
    assert all(word in text for word in words), text
    assert answer["error"]["extra_info"]["node_id"] == "7"
    assert list(answer["node_errors"]) == ["7"]
    assert answer["node_errors"]["7"]["errors"][0]["type"] == "invalid_prompt"
    queue = call_json(live_server.url + "/queue")[1]
    assert prompt_id not in [item[1] for item in queue["queue_running"] + queue["queue_pending"]]
    assert call_json(f"{live_server.url}/history/{prompt_id}") == (200, {})


def test_a_failing_node_is_an_execution_error_and_the_next_prompt_runs(live_server):
    failing = {"1": {"class_type": "TestFail", "inputs": {"message": f"failed in {live_server.base_dir}"}}}
    answer, messages = listen(live_server.url, {"prompt": failing}, uuid.uuid4().hex)
    (error,) = [data for kind, data in messages if kind == "execution_error"]
    assert error["node_id"] == "1" and error["node_type"] == "TestFail"
    assert error["exception_type"] == "RuntimeError" and error["exception_message"] == "failed in ."
    assert error["traceback"] == []  # clients see the message, the log keeps the traceback
    entry = wait_for_history(live_server.url, answer["prompt_id"])
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    assert str(live_server.base_dir) not in str(entry["status"])
    answer, messages = listen(live_server.url, {"prompt": sleep_prompt(0, 1)}, uuid.uuid4().hex)
    assert "execution_success" in [kind for kind, _ in messages]


def wait_until_running(server) -> None:
    deadline = time.monotonic() + 20
    while not call_json(server.url + "/queue")[1]["queue_running"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_queue_order_front_number_delete_and_clear(own_server):
    server = own_server()
    # the blocker runs until interrupted, so the queue is read before anything behind it starts, however loaded
    blocker = call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(120, 0)})[1]["prompt_id"]
    wait_until_running(server)
    ids = {}
    for tag, extra in [(1, {}), (2, {}), (3, {"front": True}), (4, {"number": -1000}), (5, {})]:
        status, answer = call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(0, tag), **extra})
        assert status == 200, answer
        ids[tag] = answer["prompt_id"]
    queue = call_json(server.url + "/queue")[1]
    assert [item[1] for item in queue["queue_running"]] == [blocker]
    assert [item[1] for item in queue["queue_pending"]] == [ids[4], ids[3], ids[1], ids[2], ids[5]]
    assert all(len(item) == 5 and item[2] == sleep_prompt(0, tag) for item, tag in
               zip(queue["queue_pending"], [4, 3, 1, 2, 5]))
    assert call_json(server.url + "/queue", "POST", {"delete": [ids[2]]})[0] == 200
    assert call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(0, 9), "prompt_id": ids[1]})[0] == 400
    assert call_json(server.url + "/interrupt", "POST", {"prompt_id": blocker})[0] == 200
    finished = [wait_for_history(server.url, ids[tag]) for tag in (4, 3, 1, 5)]
    order = [entry["prompt"][0] for entry in finished]
    assert order == sorted(order)
    history = call_json(server.url + "/history")[1]
    assert list(history) == [blocker, ids[4], ids[3], ids[1], ids[5]]  # oldest first, in the order they ran
    assert ids[2] not in history
    assert list(call_json(server.url + "/history?max_items=2")[1]) == [ids[1], ids[5]]
    assert call_json(server.url + "/history", "POST", {"delete": [ids[4]]})[0] == 200
    assert ids[4] not in call_json(server.url + "/history")[1]
    assert call_json(f"{server.url}/history/{ids[4]}") == (200, {})
    running = call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(120, 7)})[1]["prompt_id"]
    wait_until_running(server)
    waiting = call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(0, 8)})[1]["prompt_id"]
    assert call_json(server.url + "/queue", "POST", {"clear": True})[0] == 200
    assert call_json(server.url + "/queue")[1]["queue_pending"] == []
    call_json(server.url + "/interrupt", "POST")
    wait_for_history(server.url, running)  # filed as interrupted before the history is cleared
    call_json(server.url + "/history", "POST", {"clear": True})
    assert call_json(server.url + "/history")[1] == {}
    assert waiting not in call_json(server.url + "/history")[1]


def test_interrupt_stops_the_running_prompt(own_server):
    server = own_server()
    answer = call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(30, 1)})[1]
    wait_until_running(server)
    started = time.monotonic()
    assert call_json(server.url + "/interrupt", "POST", {})[0] == 200
    entry = wait_for_history(server.url, answer["prompt_id"], timeout=10)
    assert time.monotonic() - started < 5
    assert entry["status"]["status_str"] == "error"
    assert "execution_interrupted" in [m[0] for m in entry["status"]["messages"]]


def test_free_answers(live_server):
    assert call(live_server.url + "/free", "POST", {"unload_models": True})[0] == 200
    assert call(live_server.url + "/api/free", "POST", {"free_memory": True})[0] == 200
