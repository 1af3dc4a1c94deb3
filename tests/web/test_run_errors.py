"""Every execution_error the server sends has ComfyUI's one shape, whether a node failed or the prompt stopped
validating while it waited (a file it names was removed): the fields clients read, no traceback, no server path."""
from __future__ import annotations

import time

from PIL import Image

from tests.web.client import call_json, sleep_prompt, wait_for_history

EXECUTION_ERROR_FIELDS = ["prompt_id", "node_id", "node_type", "executed", "exception_message", "exception_type",
                          "traceback", "current_inputs", "current_outputs", "timestamp"]


def wait_until_running(server) -> None:
    deadline = time.monotonic() + 60
    while not call_json(server.url + "/queue")[1]["queue_running"]:
        assert time.monotonic() < deadline, "the blocking prompt never started"
        time.sleep(0.02)


def execution_error(entry: dict) -> dict:
    (error,) = [data for kind, data in entry["status"]["messages"] if kind == "execution_error"]
    return error


def test_a_failed_node_and_a_prompt_refused_when_its_turn_came_send_the_same_record(own_server):
    server = own_server()
    picture = server.base_dir / "input" / "soon_gone.png"
    picture.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(picture)
    failing = {"1": {"class_type": "TestFail", "inputs": {"message": f"failed in {server.base_dir}"}}}
    loads_the_picture = {"1": {"class_type": "LoadImage", "inputs": {"image": "soon_gone.png"}},
                         "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}

    blocker = call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(120)})[1]["prompt_id"]
    wait_until_running(server)
    failed = call_json(server.url + "/prompt", "POST", {"prompt": failing})[1]["prompt_id"]
    refused = call_json(server.url + "/prompt", "POST", {"prompt": loads_the_picture})[1]["prompt_id"]
    picture.unlink()  # gone before the prompt's turn: it is checked again then, and refused
    call_json(server.url + "/interrupt", "POST")
    wait_for_history(server.url, blocker)

    node_failure = execution_error(wait_for_history(server.url, failed))
    refusal = execution_error(wait_for_history(server.url, refused))
    assert list(node_failure) == list(refusal) == EXECUTION_ERROR_FIELDS
    assert (node_failure["node_id"], node_failure["node_type"], node_failure["exception_type"]) == (
        "1", "TestFail", "RuntimeError")
    assert (refusal["prompt_id"], refusal["node_id"], refusal["node_type"], refusal["exception_type"]) == (
        refused, "1", "LoadImage", "WorkflowInvalid")
    assert "soon_gone.png" in refusal["exception_message"]
    assert refusal["executed"] == [] and refusal["current_inputs"] == {} and refusal["current_outputs"] == []
    assert isinstance(refusal["timestamp"], int) and refusal["timestamp"] >= node_failure["timestamp"]
    for error in (node_failure, refusal):
        assert error["traceback"] == []
        assert str(server.base_dir) not in str(error)
