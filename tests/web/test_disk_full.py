"""A full disk under user/ (where the queue's SQLite file lives): submissions get 507 "disk full" instead of an
opaque 500, the worker waits for room instead of dying, and everything works again once there is room.

The disk is real: a 4 MiB tmpfs mounted on the base folder's user/ and filled with a file. Mounting needs root
(or the capability); the test skips, saying why, where it cannot mount."""
from __future__ import annotations

import errno
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.web.client import call, call_json, sleep_prompt, wait_for_history


@pytest.fixture
def small_user_disk(tmp_path):
    """tmp_path/base with user/ on a 4 MiB filesystem of its own; unmounted at the end."""
    user = tmp_path / "base" / "user"
    user.mkdir(parents=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a small filesystem with")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(user)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    yield tmp_path / "base"
    subprocess.run(["umount", "-l", str(user)], check=False)


def fill(folder: Path) -> Path:
    """A file that takes every free byte of the filesystem of `folder`."""
    filler = folder / "filler"
    block = b"\0" * (64 << 10)
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def test_a_full_disk_under_user_gives_507_and_the_queue_resumes_when_there_is_room(own_server, small_user_disk):
    server = own_server(base=small_user_disk)
    running = call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(1.0, 1)})[1]["prompt_id"]
    filler = fill(small_user_disk / "user")  # the prompt finishes on a full disk
    body = {"prompt": sleep_prompt(0, 2), "extra_data": {"extra_pnginfo": {"workflow": {"note": "x" * 200_000}}}}
    status, headers, payload = call(server.url + "/prompt", "POST", body)
    answer = json.loads(payload)
    assert status == 507 and headers["Content-Type"].startswith("application/json")
    assert answer["error"]["type"] == "disk_full" and "disk is full" in answer["error"]["message"]
    assert str(small_user_disk) not in payload.decode()
    assert call_json(server.url + "/queue")[0] == 200  # still serving
    server.wait_for_log("the queue waits until there is room")  # the worker could not file the finished prompt

    filler.unlink()
    assert wait_for_history(server.url, running)["status"]["status_str"] == "success"
    status, answer = call_json(server.url + "/prompt", "POST", body)
    assert status == 200, answer
    assert wait_for_history(server.url, answer["prompt_id"])["outputs"]["1"]["tag"] == [2]
