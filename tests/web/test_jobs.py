"""/jobs, as ComfyUI's frontend reads its queue, history and assets panels: the queue and the history as jobs,
filtered, paged and newest first; one job in full; cancelling a waiting job (it never runs) or the running one."""
from __future__ import annotations

import time
import uuid

import pytest

from tests.web.client import call_json, sleep_prompt, wait_for_history


def queue(server, prompt: dict, **extra) -> str:
    status, answer = call_json(server.url + "/prompt", "POST", {"prompt": prompt, **extra})
    assert status == 200, answer
    return answer["prompt_id"]


def jobs(server, query: str) -> tuple[list[str], dict]:
    """(the ids listed, the pagination) of GET /jobs?query."""
    status, answer = call_json(f"{server.url}/jobs?{query}")
    assert status == 200, answer
    return [job["id"] for job in answer["jobs"]], answer["pagination"]


def wait_until_running(server, prompt_id: str) -> None:
    deadline = time.monotonic() + 30
    while jobs(server, "status=in_progress")[0] != [prompt_id]:
        assert time.monotonic() < deadline, "the prompt did not start"
        time.sleep(0.02)


def saved_and_previewed() -> dict:
    """A tiny image shown (temp/) before it is saved (output/): the saved one is the job's preview."""
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
            "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "jobs"}}}


def test_waiting_and_running_jobs_pages_and_cancels(live_server):
    blocker = queue(live_server, sleep_prompt(60, 1))
    try:
        wait_until_running(live_server, blocker)
        first, second = queue(live_server, sleep_prompt(0, 2)), queue(live_server, sleep_prompt(0, 3))
        assert jobs(live_server, "status=pending") == ([second, first], {"offset": 0, "limit": 1000, "total": 2,
                                                                          "has_more": False})
        assert jobs(live_server, "status=pending&limit=1") == ([second], {"offset": 0, "limit": 1, "total": 2,
                                                                          "has_more": True})
        assert jobs(live_server, "status=pending&limit=1&offset=1")[0] == [first]
        assert jobs(live_server, "status=pending&sort_order=asc")[0] == [first, second]
        listed = call_json(live_server.url + "/api/jobs?status=in_progress,pending")[1]["jobs"]
        assert [(job["id"], job["status"]) for job in listed] == [
            (second, "pending"), (first, "pending"), (blocker, "in_progress")]
        assert all(isinstance(job["create_time"], int) and job["outputs_count"] == 0 for job in listed)
        assert listed[0]["create_time"] >= listed[1]["create_time"] >= listed[2]["create_time"]

        status, detail = call_json(f"{live_server.url}/jobs/{first}")
        assert status == 200 and detail["status"] == "pending" and detail["workflow"]["prompt"] == sleep_prompt(0, 2)
        assert detail["workflow"]["extra_data"]["create_time"] == listed[1]["create_time"]
        assert call_json(f"{live_server.url}/jobs/{blocker}")[1]["status"] == "in_progress"

        assert call_json(f"{live_server.url}/jobs/{first}/cancel", "POST") == (200, {"cancelled": True})
        assert call_json(f"{live_server.url}/jobs/{first}") == (404, {"error": "Job not found"})
        assert call_json(f"{live_server.url}/api/jobs/{first}/cancel", "POST") == (200, {"cancelled": False})
        body = {"job_ids": [blocker, "no-such-job"]}
        assert call_json(live_server.url + "/jobs/cancel", "POST", body) == (200, {"cancelled": True})
    finally:
        call_json(live_server.url + "/interrupt", "POST", {"prompt_id": blocker})
    wait_for_history(live_server.url, blocker)
    wait_for_history(live_server.url, second)  # it ran after the blocker; the cancelled one before it never did
    assert call_json(f"{live_server.url}/history/{first}") == (200, {})
    cancelled = call_json(f"{live_server.url}/jobs/{blocker}")[1]
    assert cancelled["status"] == "cancelled"
    assert cancelled["create_time"] <= cancelled["execution_start_time"] <= cancelled["execution_end_time"]
    assert call_json(f"{live_server.url}/jobs/{second}")[1]["status"] == "completed"
    assert call_json(f"{live_server.url}/jobs/cancel", "POST", {"job_ids": [second]}) == (200, {"cancelled": False})


def test_finished_jobs_status_preview_error_and_detail(live_server):
    workflow_id = str(uuid.uuid4())
    image = queue(live_server, saved_and_previewed(), extra_data={"extra_pnginfo": {"workflow": {"id": workflow_id}}})
    failing = queue(live_server, {"1": {"class_type": "TestFail", "inputs": {"message": "no luck"}}})
    entry = wait_for_history(live_server.url, image)
    wait_for_history(live_server.url, failing)

    listed, pages = jobs(live_server, "status=completed,failed")
    assert listed.index(failing) < listed.index(image) and pages["total"] == len(listed)  # newest first
    everything = call_json(live_server.url + "/jobs")[1]["jobs"]
    times = [job["create_time"] for job in everything]
    assert times == sorted(times, reverse=True)
    done = next(job for job in everything if job["id"] == image)
    (saved,) = entry["outputs"]["3"]["images"]
    assert entry["outputs"]["2"]["images"][0]["type"] == "temp"
    assert done["status"] == "completed" and done["outputs_count"] == 2 and done["workflow_id"] == workflow_id
    assert done["preview_output"] == {**saved, "nodeId": "3", "mediaType": "images"} and saved["type"] == "output"
    assert done["create_time"] <= done["execution_start_time"] <= done["execution_end_time"]
    assert "execution_error" not in done
    failed = next(job for job in everything if job["id"] == failing)
    assert failed["status"] == "failed" and "preview_output" not in failed
    error = failed["execution_error"]
    assert (error["node_id"], error["node_type"], error["exception_message"]) == ("1", "TestFail", "no luck")
    assert failing in jobs(live_server, "status=failed")[0] and image not in jobs(live_server, "status=failed")[0]
    assert jobs(live_server, f"workflow_id={workflow_id}")[0] == [image]

    status, detail = call_json(f"{live_server.url}/jobs/{image}")
    assert status == 200 and detail["outputs"] == entry["outputs"] and detail["execution_status"] == entry["status"]
    assert detail["workflow"] == {"prompt": saved_and_previewed(), "extra_data": entry["prompt"][3]}
    assert {name: detail[name] for name in done} == done


@pytest.mark.parametrize("method, path, body, named", [
    ("GET", "/jobs?status=pending,done", None, "status"),
    ("GET", "/jobs?limit=0", None, "limit"),
    ("GET", "/jobs?limit=ten", None, "limit"),
    ("GET", "/jobs?offset=-1", None, "offset"),
    ("GET", "/jobs?sort_by=name", None, "sort_by"),
    ("GET", "/jobs?sort_order=up", None, "sort_order"),
    ("POST", "/jobs/cancel", {"job_ids": "abc"}, "job_ids"),
    ("POST", "/jobs/cancel", {"job_ids": [1]}, "job_ids"),
    ("POST", "/jobs/cancel", {}, "job_ids"),
    ("POST", "/jobs/cancel", [], "object"),
])
def test_bad_parameters_are_refused_by_name(live_server, method, path, body, named):
    status, answer = call_json(live_server.url + path, method, body)
    assert status == 400 and named in answer["error"]["message"], answer


def test_a_page_is_at_most_the_largest_limit(live_server):
    assert jobs(live_server, "limit=100000")[1]["limit"] == 1000
