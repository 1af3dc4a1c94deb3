"""POST /prompt with ComfyUI's `partial_execution_targets`: only the output nodes named there, and what they need, run
(the queue item's outputs_to_execute says which); ids that name no output node leave nothing to run (ComfyUI's
prompt_no_outputs), and a value that is not a list of strings is refused naming the field."""
from __future__ import annotations

import uuid

from tests.web.client import call_json, listen


def _two_savers(tag: str) -> dict:
    """One small image saved by two SaveImage nodes under prefixes of their own."""
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 255}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": f"{tag}_first"}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": f"{tag}_second"}}}


def test_only_the_chosen_output_runs(live_server):
    tag = uuid.uuid4().hex[:12]
    answer, messages = listen(live_server.url, {"prompt": _two_savers(tag), "partial_execution_targets": ["3"]},
                              uuid.uuid4().hex)
    ran = [data["node"] for kind, data in messages if kind == "executing" and data["node"] is not None]
    assert "2" not in ran and "3" in ran
    assert [kind for kind, _ in messages if kind in ("execution_success", "execution_error")] == ["execution_success"]
    output = live_server.base_dir / "output"
    assert [path.name for path in output.glob(f"{tag}_*")] == [f"{tag}_second_00001_.png"]
    status, history = call_json(f"{live_server.url}/history/{answer['prompt_id']}")
    assert status == 200 and history[answer["prompt_id"]]["prompt"][4] == ["3"]  # outputs_to_execute


def test_targets_that_name_no_output_or_are_not_a_list_of_strings_are_refused(live_server):
    prompt = _two_savers("refused")
    for targets in (["404"], ["1"], []):  # an unknown id, a node that is not an output, none
        status, body = call_json(f"{live_server.url}/prompt", "POST",
                                 {"prompt": prompt, "partial_execution_targets": targets})
        assert status == 400 and body["error"]["type"] == "prompt_no_outputs", body
        assert "partial_execution_targets" in body["error"]["details"]
    for targets in ("3", [3], {"3": True}):
        status, body = call_json(f"{live_server.url}/prompt", "POST",
                                 {"prompt": prompt, "partial_execution_targets": targets})
        assert status == 400 and "'partial_execution_targets' must be a list" in body["error"]["message"], body
    assert not list((live_server.base_dir / "output").glob("refused_*"))
