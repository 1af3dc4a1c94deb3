"""`serve --cluster ray` on a local Ray runtime with two CPU workers: runs equal a single-process run, prompts go
where their checkpoint is, interrupts reach the right worker, a first pass one worker computed is taken by
another from Ray's object store, and a worker killed mid-prompt loses nothing and duplicates nothing (and one that
dies again and again is taken out while the rest serve on)."""
from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.web.client import call, call_json, listen, sleep_prompt, text_to_image, wait_for_history
from tests.web.conftest import LiveServer, free_port, prepare_base, start_server

SECOND_CHECKPOINT = "second-demo.safetensors"


def cluster_workers(server: LiveServer) -> dict[str, dict]:
    status, body = call_json(f"{server.url}/cluster")
    assert status == 200, body
    return {worker["name"]: worker for worker in body["workers"]}


def wait_for_workers(server: LiveServer, condition, timeout: float = 240) -> dict[str, dict]:
    """Until /cluster's workers satisfy `condition` (event-driven state: polled, bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        workers = cluster_workers(server)
        if condition(workers):
            return workers
        assert time.monotonic() < deadline, f"workers never got there: {workers}\n{server.log()[-4000:]}"
        time.sleep(0.1)


def all_idle(workers: dict[str, dict]) -> bool:
    return all(worker["state"] == "idle" for worker in workers.values())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two workers; a prompt may wait up to 600 s for its warm worker (the rule, not the clock, is under test); a
    worker is restarted once, then taken out."""
    from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME

    base = prepare_base(tmp_path_factory.mktemp("cluster"))
    checkpoints = base / "models" / "checkpoints"
    shutil.copyfile(checkpoints / DEMO_CHECKPOINT_NAME, checkpoints / SECOND_CHECKPOINT)
    server = start_server(base, "--cluster", "ray", "--workers", "2", "--affinity-wait", "600",
                          "--worker-restarts", "1")
    try:
        wait_for_workers(server, all_idle)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The same installation run by one process, the reference."""
    server = start_server(prepare_base(tmp_path_factory.mktemp("single")))
    yield server
    server.stop()


def without_ids(value):
    """A message's data without what differs from run to run (ids, clocks)."""
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k not in ("prompt_id", "timestamp")}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def run_story(server: LiveServer, prompt: dict, previews: bool = False) -> tuple[str, list]:
    """(prompt id, its messages without ids and clocks, preview frames as ("binary", their 8-byte header)); other
    prompts' broadcasts are left out."""
    answer, messages = listen(server.url, {"prompt": prompt}, f"client-{uuid.uuid4().hex[:8]}", previews=previews)
    prompt_id = answer["prompt_id"]
    return prompt_id, [(kind, data[:8]) if kind == "binary" else (kind, without_ids(data)) for kind, data in messages
                       if kind == "binary" or (kind != "status" and data.get("prompt_id") == prompt_id)]


def output_pixels(server: LiveServer, image: dict) -> np.ndarray:
    status, _, body = call(f"{server.url}/view?filename={image['filename']}&subfolder={image['subfolder']}"
                                f"&type={image['type']}")
    assert status == 200
    return np.asarray(Image.open(BytesIO(body)).convert("RGB"), dtype=np.int16)


def test_a_prompt_on_the_cluster_equals_a_single_process_run(cluster, single):
    prompt = text_to_image(seed=11, prefix="same")
    cluster_id, on_cluster = run_story(cluster, prompt)
    single_id, on_single = run_story(single, prompt)
    assert [kind for kind, _ in on_cluster] == [kind for kind, _ in on_single]
    assert on_cluster == on_single
    images = [wait_for_history(server.url, pid)["outputs"]["9"]["images"][0]
              for server, pid in ((cluster, cluster_id), (single, single_id))]
    assert images[0] == images[1]
    difference = np.abs(output_pixels(cluster, images[0]) - output_pixels(single, images[1])).max()
    assert difference <= 1  # the same image within 1/255 (torch's thread count may differ between the processes)
    history = wait_for_history(cluster.url, cluster_id)
    assert [event for event, _ in history["status"]["messages"]] == [
        event for event, _ in wait_for_history(single.url, single_id)["status"]["messages"]]


def test_errors_and_previews_reach_the_client_as_without_a_cluster(cluster, single):
    failing = {"1": {"class_type": "TestFail", "inputs": {"message": "kaboom from a worker"}}}
    (_, on_cluster), (_, on_single) = run_story(cluster, failing), run_story(single, failing)
    assert on_cluster == on_single
    (error,) = [data for kind, data in on_cluster if kind == "execution_error"]
    assert error["exception_message"] == "kaboom from a worker" and error["traceback"] == []
    prompt = text_to_image(seed=12, steps=3, prefix="previews")
    (_, on_cluster), (_, on_single) = run_story(cluster, prompt, True), run_story(single, prompt, True)
    assert [kind for kind, _ in on_cluster if kind != "binary"] == [kind for kind, _ in on_single if kind != "binary"]
    # previews are sent at most so often, so their number depends on the clock; their kind does not
    assert {data for kind, data in on_cluster if kind == "binary"} == {
        data for kind, data in on_single if kind == "binary"} == {struct.pack(">II", 1, 1)}  # type 1, JPEG


def test_bad_input_is_refused_by_the_server_as_without_a_cluster(cluster, single):
    bad = {"1": {"class_type": "NoSuchNode", "inputs": {}}}
    answers = [call_json(f"{server.url}/prompt", "POST", {"prompt": bad}) for server in (cluster, single)]
    assert answers[0] == answers[1]
    assert answers[0][0] == 400


def test_prompts_go_to_the_worker_that_holds_their_checkpoint(cluster):
    from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME

    before = cluster_workers(cluster)
    ids: dict[str, list[str]] = {DEMO_CHECKPOINT_NAME: [], SECOND_CHECKPOINT: []}
    for index in range(6):
        checkpoint = (DEMO_CHECKPOINT_NAME, SECOND_CHECKPOINT)[index % 2]
        prompt = text_to_image(seed=100 + index, prefix=f"affinity{index}")
        prompt["4"]["inputs"]["ckpt_name"] = checkpoint
        status, answer = call_json(f"{cluster.url}/prompt", "POST", {"prompt": prompt})
        assert status == 200, answer
        ids[checkpoint].append(answer["prompt_id"])
    for prompt_ids in ids.values():
        for prompt_id in prompt_ids:
            assert wait_for_history(cluster.url, prompt_id)["status"]["status_str"] == "success"
    after = wait_for_workers(cluster, all_idle)
    ran_on = {prompt_id: name for name, worker in after.items() for prompt_id in worker["recent"]}
    for checkpoint, prompt_ids in ids.items():
        assert len({ran_on[prompt_id] for prompt_id in prompt_ids}) == 1, (checkpoint, ran_on)
    assert {ran_on[ids[DEMO_CHECKPOINT_NAME][0]], ran_on[ids[SECOND_CHECKPOINT][0]]} == set(after)
    loads = {name: after[name]["model_loads"] - before[name]["model_loads"] for name in after}
    assert all(count <= 1 for count in loads.values()), loads  # each checkpoint loaded once at most, where it went


def queue(server: LiveServer, prompt: dict) -> str:
    status, answer = call_json(f"{server.url}/prompt", "POST", {"prompt": prompt})
    assert status == 200, answer
    return answer["prompt_id"]


def worker_running(server: LiveServer, prompt_id: str) -> dict:
    workers = wait_for_workers(server, lambda ws: any(w["running"] == prompt_id and w["pid"] for w in ws.values()))
    return next(w for w in workers.values() if w["running"] == prompt_id)


def test_an_interrupt_reaches_the_worker_that_runs_the_prompt(cluster):
    first = queue(cluster, sleep_prompt(60, tag=1001))
    second = queue(cluster, sleep_prompt(60, tag=1002))
    first_worker, second_worker = worker_running(cluster, first), worker_running(cluster, second)
    assert first_worker["name"] != second_worker["name"]
    call_json(f"{cluster.url}/interrupt", "POST", {"prompt_id": second})
    stopped = wait_for_history(cluster.url, second)
    assert [event for event, _ in stopped["status"]["messages"]][-1] == "execution_interrupted"
    assert cluster_workers(cluster)[first_worker["name"]]["running"] == first  # the other prompt runs on
    call_json(f"{cluster.url}/interrupt", "POST", {"prompt_id": first})
    assert wait_for_history(cluster.url, first)["status"]["status_str"] == "error"
    wait_for_workers(cluster, all_idle)


def image_passes(color: int, second: bool) -> dict:
    """A first pass (an image, blurred) and, when `second`, a second pass on its result."""
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 256, "height": 256, "batch_size": 1,
                                                          "color": color}},
              "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 9, "sigma": 3.0}},
              "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}
    if second:
        prompt["4"] = {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}}
        prompt["5"] = {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}}
    return prompt


def test_a_first_pass_computed_on_one_worker_is_reused_by_another(cluster):
    first = queue(cluster, image_passes(0x336699, second=False))
    assert wait_for_history(cluster.url, first)["status"]["status_str"] == "success"
    holder = next(name for name, w in wait_for_workers(cluster, all_idle).items() if first in w["recent"])
    sleeps = [queue(cluster, sleep_prompt(60, tag=4001))]  # hold the first pass's worker busy
    if worker_running(cluster, sleeps[0])["name"] != holder:
        sleeps.append(queue(cluster, sleep_prompt(60, tag=4002)))  # only the holder is idle: it takes this one
        assert worker_running(cluster, sleeps[1])["name"] == holder
        call_json(f"{cluster.url}/interrupt", "POST", {"prompt_id": sleeps[0]})
        wait_for_history(cluster.url, sleeps[0])
    try:
        second, story = run_story(cluster, image_passes(0x336699, second=True))
        assert wait_for_history(cluster.url, second)["status"]["status_str"] == "success"  # filed: /cluster knows
        other = next(name for name, w in cluster_workers(cluster).items() if second in w["recent"])
        assert other != holder
        (cached,) = [data["nodes"] for kind, data in story if kind == "execution_cached"]
        assert {"1", "2"} <= set(cached)  # the first pass came from the object store, not run again
        executed = {data["node"] for kind, data in story if kind == "executed"}
        assert executed == {"3", "5"}
    finally:
        call_json(f"{cluster.url}/interrupt", "POST", {"prompt_id": sleeps[-1]})
        wait_for_workers(cluster, all_idle)


def test_a_worker_killed_mid_prompt_loses_nothing_and_duplicates_nothing(cluster):
    prompt = sleep_prompt(6, tag=2001)  # long enough to be killed while it runs, however loaded the machine
    seen: dict[str, list] = {}
    listener = threading.Thread(target=lambda: seen.update(story=run_story(cluster, prompt)))
    listener.start()
    victim = wait_for_workers(cluster, lambda ws: any(w["running"] and w["pid"] for w in ws.values()))
    victim = next(w for w in victim.values() if w["running"])
    os.kill(victim["pid"], signal.SIGKILL)
    listener.join(180)
    prompt_id, story = seen["story"]
    assert [kind for kind, _ in story].count("execution_success") == 1
    assert [kind for kind, _ in story].count("execution_error") == 0
    entry = wait_for_history(cluster.url, prompt_id)
    assert entry["status"]["status_str"] == "success"
    assert entry["outputs"]["1"] == {"tag": [2001]}
    _, history = call_json(f"{cluster.url}/history")
    assert list(history).count(prompt_id) == 1
    back = wait_for_workers(cluster, all_idle)[victim["name"]]  # Ray restarted it
    assert back["pid"] != victim["pid"]
    assert "died running prompt" in cluster.log()


def test_a_worker_that_dies_again_and_again_is_taken_out_and_the_rest_serve_on(cluster):
    deaths: dict[str, int] = {}
    for tag in range(3001, 3004):  # each worker may be restarted once: some worker is out by the third death
        if any(w["state"] == "removed" for w in cluster_workers(cluster).values()):
            break
        prompt_id = queue(cluster, sleep_prompt(6, tag=tag))
        victim = worker_running(cluster, prompt_id)
        os.kill(victim["pid"], signal.SIGKILL)
        deaths[victim["name"]] = deaths.get(victim["name"], 0) + 1
        assert wait_for_history(cluster.url, prompt_id)["status"]["status_str"] == "success"
        wait_for_workers(cluster, lambda ws: all(w["state"] in ("idle", "removed") for w in ws.values()))
    workers = cluster_workers(cluster)
    removed = [name for name, worker in workers.items() if worker["state"] == "removed"]
    assert len(removed) == 1, workers
    assert "is taken out" in cluster.log()
    prompt_id = queue(cluster, text_to_image(seed=5, prefix="after-removal"))
    assert wait_for_history(cluster.url, prompt_id)["status"]["status_str"] == "success"
    _, stats = call_json(f"{cluster.url}/system_stats")
    assert {worker["name"]: worker["state"] for worker in stats["workers"]}[removed[0]] == "removed"



def test_free_reaches_the_workers(cluster):
    assert any(w["cache"]["entries"] for w in cluster_workers(cluster).values() if w["state"] == "idle")
    assert call(f"{cluster.url}/free", "POST", {"free_memory": True})[0] == 200
    idle = [w for w in cluster_workers(cluster).values() if w["state"] == "idle"]
    assert idle and all(w["cache"]["entries"] == 0 for w in idle)


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory):
    """One worker over a base folder of its own (as on another machine): its files must come back to the server."""
    server_base = prepare_base(tmp_path_factory.mktemp("server-side"))
    worker_base = prepare_base(tmp_path_factory.mktemp("worker-side"))
    server = start_server(server_base, "--cluster", "ray", "--workers", "1", "--worker-base-dir", str(worker_base))
    try:
        wait_for_workers(server, all_idle)
        yield server, worker_base
    finally:
        server.stop()


def test_files_a_worker_writes_elsewhere_come_back_under_free_names(elsewhere):
    server, worker_base = elsewhere
    taken = server.base_dir / "output" / "shipped_00001_.png"
    taken.write_bytes(b"a file the server already had")  # the worker's counter does not know it
    prompt_id, story = run_story(server, text_to_image(seed=21, prefix="shipped"))
    (executed,) = [data for kind, data in story if kind == "executed" and data["node"] == "9"]
    (image,) = executed["output"]["images"]
    assert image["filename"] != "shipped_00001_.png" and image["filename"].startswith("shipped_00001_")
    assert (worker_base / "output" / "shipped_00001_.png").is_file()  # where the worker wrote it
    assert taken.read_bytes() == b"a file the server already had"
    assert wait_for_history(server.url, prompt_id)["outputs"]["9"]["images"] == [image]
    stored = output_pixels(server, image)
    with Image.open(worker_base / "output" / "shipped_00001_.png") as written:
        assert np.array_equal(stored, np.asarray(written.convert("RGB"), dtype=np.int16))


def test_a_server_joins_a_running_ray_cluster_and_a_restart_keeps_its_queue(tmp_path, monkeypatch):
    """`ray start --head` as on a cluster's head machine (declaring two GPUs: Ray hands them out whether or not they
    exist), then `serve --cluster HOST:PORT`: one worker per GPU, each holding its own; with one worker, stopped
    with a prompt running and two waiting, the server files the running one as interrupted and runs the others
    after a restart."""
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # the head and the server (inheriting it) share ~/.ray/auth_token
    ray = str(Path(sys.executable).with_name("ray"))
    subprocess.run([ray, "get-auth-token", "--generate"], check=True, capture_output=True, timeout=60)  # if missing
    port, head_log = free_port(), tmp_path / "head.log"
    sessions = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # its socket paths must stay under 108 bytes
    head = subprocess.Popen([ray, "start", "--head", "--block",
                             f"--port={port}", "--num-cpus=2", "--num-gpus=2", "--include-dashboard=false",
                             f"--object-store-memory={256 << 20}", f"--temp-dir={sessions}"],
                            stdout=open(head_log, "w"), stderr=subprocess.STDOUT)
    base = prepare_base(tmp_path / "base")
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in head_log.read_text(errors="replace"):
            assert head.poll() is None and time.monotonic() < deadline, head_log.read_text(errors="replace")
            time.sleep(0.1)
        server = start_server(base, "--cluster", f"127.0.0.1:{port}")
        try:
            workers = wait_for_workers(server, all_idle)
            assert sorted(gpu for w in workers.values() for gpu in w["gpus"]) == [0, 1]
            assert all(len(w["gpus"]) == 1 for w in workers.values())
        finally:
            server.stop()
        server = start_server(base, "--cluster", f"127.0.0.1:{port}", "--workers", "1")
        try:
            wait_for_workers(server, all_idle)
            running = queue(server, sleep_prompt(60, tag=5001))
            worker_running(server, running)
            waiting = [queue(server, sleep_prompt(0.1, tag=tag)) for tag in (5002, 5003)]
        finally:
            server.stop()
        server = start_server(base, "--cluster", f"127.0.0.1:{port}", "--workers", "1")
        try:
            stopped = wait_for_history(server.url, running)
            assert stopped["status"]["status_str"] == "error"
            for prompt_id, tag in zip(waiting, (5002, 5003)):
                assert wait_for_history(server.url, prompt_id)["outputs"]["1"] == {"tag": [tag]}
        finally:
            server.stop()
    finally:
        head.terminate()
        head.wait(60)
        shutil.rmtree(sessions, ignore_errors=True)
