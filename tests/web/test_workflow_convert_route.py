"""POST /workflow/convert on a real server: API → UI → API, the /api/ alias, and refusals that leave it serving."""
from __future__ import annotations

import json

import pytest

from tests.web.client import REPO, call, call_json
from tests.fixtures.example_workflows import example_prompt


def convert(server, workflow, to: str, prefix: str = "") -> tuple[int, dict]:
    return call_json(f"{server.url}{prefix}/workflow/convert", "POST", {"workflow": workflow, "to": to})


def still_serving(server) -> None:
    assert call_json(server.url + "/queue")[0] == 200
    assert server.process.poll() is None


def test_api_to_ui_and_back(live_server):
    prompt = example_prompt("text_to_image.json")
    status, answer = convert(live_server, prompt, "ui", prefix="/api")
    assert status == 200, answer
    workflow = answer["workflow"]
    assert workflow["version"] == 0.4 and len(workflow["nodes"]) == len(prompt)
    sampler = next(n for n in workflow["nodes"] if n["type"] == "KSampler")
    assert sampler["widgets_values"][:2] == [prompt["3"]["inputs"]["seed"], "fixed"]

    status, answer = convert(live_server, workflow, "api")
    assert status == 200, answer
    back = answer["prompt"]
    assert set(back) == set(prompt)
    for node_id, node in prompt.items():
        assert back[node_id]["class_type"] == node["class_type"]
        assert back[node_id]["inputs"] == node["inputs"]


def test_a_ui_workflow_asked_for_as_ui_comes_back_as_it_is(live_server):
    prompt = json.loads((REPO / "workflows" / "utility_example.json").read_text())
    workflow = convert(live_server, prompt, "ui")[1]["workflow"]
    workflow["nodes"][0]["pos"] = [123, 456]  # the user's own layout is kept
    assert convert(live_server, workflow, "ui") == (200, {"workflow": workflow})


A1111_TEXT = ("a red fox in the snow\nNegative prompt: blurry\nSteps: 3, Sampler: DPM++ 2M, Schedule type: Karras, "
              "CFG scale: 6, Seed: 77, Size: 64x96, Model: latentloom-demo-sd1-random-weights")


def test_a1111_parameters_become_the_workflow_latentloom_run_builds(live_server):
    """The canvas sends a dropped A1111 PNG's text here; the answer is the editor's form of what the CLI runs."""
    status, answer = call_json(live_server.url + "/api/workflow/convert", "POST", {"parameters": A1111_TEXT, "to": "ui"})
    assert status == 200, answer
    nodes = {n["type"]: n for n in answer["workflow"]["nodes"]}
    assert nodes["KSampler"]["widgets_values"] == [77, "fixed", 3, 6, "dpmpp_2m", "karras", 1.0]
    assert nodes["EmptyLatentImage"]["widgets_values"][:2] == [64, 96]
    assert nodes["CheckpointLoaderSimple"]["widgets_values"] == ["latentloom-demo-sd1-random-weights.safetensors"]
    texts = sorted(n["widgets_values"][0] for n in answer["workflow"]["nodes"] if n["type"] == "CLIPTextEncode")
    assert texts == ["a red fox in the snow", "blurry"]
    status, answer = call_json(live_server.url + "/workflow/convert", "POST", {"parameters": A1111_TEXT, "to": "api"})
    assert status == 200 and {"KSampler", "SaveImage"} <= {n["class_type"] for n in answer["prompt"].values()}


def test_an_api_prompt_asked_for_as_api_is_the_prompt(live_server):
    prompt = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}}}
    assert convert(live_server, prompt, "api") == (200, {"prompt": prompt})


@pytest.mark.parametrize("body,words", [
    ({"workflow": {"1": {"class_type": "NoSuchNode", "inputs": {}}}, "to": "ui"}, ["NoSuchNode", "node 1"]),
    ({"workflow": {"1": {"class_type": "StringLength", "inputs": {"string": ["7", 0]}}}, "to": "ui"}, ["node 7"]),
    ({"workflow": {"nodes": [{"id": 1, "type": "NoSuchNode"}], "links": []}, "to": "api"}, ["NoSuchNode"]),
    ({"workflow": {"1": {"class_type": "PrimitiveInt", "inputs": {}}}, "to": "png"}, ["'to'", "png"]),
    ({"workflow": {"title": "not a workflow"}, "to": "api"}, ["title", "class_type"]),
    ({"workflow": [1, 2], "to": "ui"}, ["'workflow'"]),
    ({"to": "api"}, ["'workflow'"]),
    ({"parameters": "", "to": "ui"}, ["'parameters'", "AUTOMATIC1111"]),
    ({"parameters": "a cat\nSteps: many, Sampler: Euler a, Seed: 1", "to": "ui"}, ["A1111", "Steps: many", "not a number"]),
    ({"parameters": "a cat\nSteps: 3, Seed: 1, Model: no-such-model", "to": "api"}, ["no-such-model"]),
])
def test_bad_input_is_refused_with_a_message_naming_the_problem(live_server, body, words):
    status, answer = call_json(live_server.url + "/workflow/convert", "POST", body)
    assert status == 400, answer
    assert answer["error"]["type"] == "invalid_workflow"
    for word in words:
        assert word in answer["error"]["message"]
    still_serving(live_server)


def test_a_body_that_is_not_json_is_refused(live_server):
    status, _headers, body = call(live_server.url + "/api/workflow/convert", "POST", raw=b"{nope")
    assert status == 400 and b'"error"' in body
    still_serving(live_server)
