"""Queue and history live in SQLite under user/: a killed server comes back with its waiting prompts, the one it was
running filed as interrupted (and queueable again), and its history."""
from __future__ import annotations

import time

from tests.web.client import call_json, sleep_prompt, wait_for_history


def test_a_killed_server_keeps_its_queue_and_history(own_server, tmp_path):
    server = own_server(base=tmp_path)
    done = call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(0, 1)})[1]["prompt_id"]
    wait_for_history(server.url, done)
    running = call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(60, 2), "client_id": "c"})[1]
    waiting = [call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(0, tag)})[1]["prompt_id"]
               for tag in (3, 4)]
    deadline = time.monotonic() + 20
    while [item[1] for item in call_json(server.url + "/queue")[1]["queue_running"]] != [running["prompt_id"]]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    server.kill()  # SIGKILL: no clean shutdown

    again = own_server(base=tmp_path, port=server.port)
    assert (tmp_path / "user" / "latentloom.db").is_file()
    first, second = (wait_for_history(again.url, prompt_id) for prompt_id in waiting)
    assert first["status"]["status_str"] == second["status"]["status_str"] == "success"
    assert first["outputs"]["1"]["tag"] == [3] and second["outputs"]["1"]["tag"] == [4]
    stopped = call_json(f"{again.url}/history/{running['prompt_id']}")[1][running["prompt_id"]]
    assert stopped["status"] == {"status_str": "error", "completed": False, "messages": stopped["status"]["messages"]}
    assert stopped["status"]["messages"][0][0] == "execution_interrupted"
    assert "queue it again" in stopped["status"]["messages"][0][1]["reason"]
    assert call_json(f"{again.url}/history/{done}")[1][done]["status"]["status_str"] == "success"
    assert "prompt(s) were running when the server last stopped" in again.log()

    # queue the interrupted one again, under its own id: it runs and replaces its history entry
    prompt, extra_data = stopped["prompt"][2], stopped["prompt"][3]
    prompt["1"]["inputs"]["seconds"] = 0
    status, answer = call_json(again.url + "/prompt", "POST", {"prompt": prompt, "prompt_id": running["prompt_id"],
                                                               "client_id": extra_data["client_id"]})
    assert status == 200
    rerun = wait_for_history(again.url, running["prompt_id"])  # queueing removed the interrupted entry
    assert rerun["status"]["status_str"] == "success" and rerun["outputs"]["1"]["tag"] == [2]


def test_history_is_bounded(own_server):
    server = own_server("--max-history", "3")
    ids = [call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(0, tag)})[1]["prompt_id"]
           for tag in range(6)]
    wait_for_history(server.url, ids[-1])
    assert list(call_json(server.url + "/history")[1]) == ids[-3:]
