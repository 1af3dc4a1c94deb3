"""What ComfyUI's canvas shows of a run on each node. progress_state: the client that queued a prompt gets, as nodes
start, step and finish, the state of every node no longer pending; the last one of a run shows what ran finished,
or the failing node in error. Previews with metadata: a page that said it reads them gets type-4 frames naming the
node and prompt they belong to."""
from __future__ import annotations

import io
import json
import struct
import uuid

import pytest
from PIL import Image

from tests.web.client import listen, text_to_image

FIELDS = {"value", "max", "state", "node_id", "prompt_id", "display_node_id", "parent_node_id", "real_node_id"}


@pytest.fixture(scope="module")
def page_run(live_server) -> tuple[str, list]:
    """One small run queued by a page that reads preview metadata: its prompt id and every message it got."""
    answer, messages = listen(live_server.url, {"prompt": text_to_image(seed=51, steps=2)}, uuid.uuid4().hex,
                              feature_flags={"supports_preview_metadata": True})
    return answer["prompt_id"], messages


def _states(messages: list, prompt_id: str) -> list[dict]:
    """The `nodes` of each progress_state message, in order (all of them for this prompt)."""
    states = [data for kind, data in messages if kind == "progress_state"]
    assert states and all(data["prompt_id"] == prompt_id for data in states)
    return [data["nodes"] for data in states]


def test_a_run_reports_each_node_running_then_finished(page_run):
    prompt_id, messages = page_run
    states = _states(messages, prompt_id)
    ran = [data["node"] for kind, data in messages if kind == "executing" and data["node"] is not None]
    assert ran and "3" in ran
    for nodes in states:
        for node_id, entry in nodes.items():
            assert set(entry) == FIELDS and entry["node_id"] == node_id and entry["prompt_id"] == prompt_id
            assert entry["display_node_id"] == entry["real_node_id"] == node_id and entry["parent_node_id"] is None
    final = states[-1]
    assert set(ran) <= set(final) and {entry["state"] for entry in final.values()} == {"finished"}
    for node_id in ran:  # each was shown running before it finished
        assert any(nodes.get(node_id, {}).get("state") == "running" for nodes in states)
    sampler_steps = [(nodes["3"]["value"], nodes["3"]["max"]) for nodes in states
                     if nodes.get("3", {}).get("state") == "running"]
    assert sampler_steps == [(0, 1), (1, 2), (2, 2)]  # started, then one message per step
    assert final["3"]["value"] == final["3"]["max"] == 2


def test_a_page_that_reads_preview_metadata_gets_type_4_previews_of_the_sampler(page_run):
    prompt_id, messages = page_run
    frames = [data for kind, data in messages if kind == "binary"]
    assert frames
    for frame in frames:
        event, length = struct.unpack(">II", frame[:8])
        assert event == 4
        assert json.loads(frame[8:8 + length]) == {  # node 3 is the KSampler
            "node_id": "3", "display_node_id": "3", "parent_node_id": None, "real_node_id": "3",
            "prompt_id": prompt_id, "image_type": "image/jpeg"}
        with Image.open(io.BytesIO(frame[8 + length:])) as preview:
            assert preview.format == "JPEG" and preview.size[0] > 0


def test_a_failing_node_is_reported_in_error_beside_the_finished_ones(live_server):
    prompt = {"1": {"class_type": "TestSleep", "inputs": {"seconds": 0, "tag": 3}},
              "2": {"class_type": "TestFail", "inputs": {"message": "on purpose"}}}
    answer, messages = listen(live_server.url, {"prompt": prompt}, uuid.uuid4().hex)
    states = _states(messages, answer["prompt_id"])
    assert states[-1]["1"]["state"] == "finished" and states[-1]["2"]["state"] == "error"
    assert any(nodes.get("2", {}).get("state") == "running" for nodes in states[:-1])
