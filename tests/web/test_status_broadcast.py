"""Status broadcasts stay bounded: a burst of queue changes gives an idle websocket client at most one status
message per STATUS_INTERVAL, and the last one it gets shows the queue as it ended (empty). queue_remaining counts
the running prompt and the waiting ones."""
from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from tests.web.client import call_json, run_async, sleep_prompt, wait_for_history
from web.client_hub import STATUS_INTERVAL

PROMPTS = 60


async def _collect_status(idle: aiohttp.ClientWebSocketResponse, seen: list[tuple[float, int]]) -> None:
    async for message in idle:
        decoded = json.loads(message.data)
        if decoded["type"] == "status":
            seen.append((time.monotonic(), decoded["data"]["status"]["exec_info"]["queue_remaining"]))


async def _queue_is_empty(session: aiohttp.ClientSession, base_url: str) -> bool:
    async with session.get(base_url + "/queue") as response:
        queue = await response.json()
    return not queue["queue_running"] and not queue["queue_pending"]


async def _burst_seen_by_idle_client(base_url: str) -> tuple[list[int], float]:
    """Queue PROMPTS quick prompts one after another; the queue_remaining values an idle client was sent, and the
    seconds from the first submission to the last status it got once the queue was empty again."""
    ws_url = base_url.replace("http", "ws", 1) + "/ws?clientId=idle-watcher"
    seen: list[tuple[float, int]] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as idle:
        first = json.loads((await idle.receive(timeout=10)).data)
        assert first["type"] == "status"  # sent on connect, not part of the burst
        reader = asyncio.create_task(_collect_status(idle, seen))
        started = time.monotonic()
        for tag in range(PROMPTS):
            body = {"prompt": sleep_prompt(0, tag), "client_id": "submitter"}
            async with session.post(base_url + "/prompt", json=body) as response:
                assert response.status == 200, await response.text()
        deadline = time.monotonic() + 120
        while not await _queue_is_empty(session, base_url):
            assert time.monotonic() < deadline, "the prompts did not finish within 120 s"
            await asyncio.sleep(0.05)
        while not seen or seen[-1][1] != 0:  # the queue is empty: a status saying so must come
            assert time.monotonic() < deadline, f"no status showed the queue empty; got {seen}"
            await asyncio.sleep(0.05)
        reader.cancel()
    return [value for _, value in seen], seen[-1][0] - started


def test_a_burst_of_queue_changes_sends_an_idle_client_few_status_messages(live_server):
    remaining, elapsed = run_async(asyncio.wait_for(_burst_seen_by_idle_client(live_server.url), 180))
    # each of the 60 prompts changes the queue three times (queued, started, finished); broadcasts are at least
    # STATUS_INTERVAL apart, so however slow the machine, their number is bounded by the time the burst took
    allowed = 2 + elapsed / STATUS_INTERVAL
    assert len(remaining) <= allowed, f"{len(remaining)} status messages in {elapsed:.2f} s: {remaining}"


def test_queue_remaining_counts_the_running_prompt_and_the_waiting_ones(live_server):
    running = call_json(live_server.url + "/prompt", "POST", {"prompt": sleep_prompt(30, 1)})[1]["prompt_id"]
    waiting = call_json(live_server.url + "/prompt", "POST", {"prompt": sleep_prompt(0, 2)})[1]["prompt_id"]
    deadline = time.monotonic() + 60
    while not call_json(live_server.url + "/queue")[1]["queue_running"]:
        assert time.monotonic() < deadline, "the first prompt did not start"
        time.sleep(0.05)
    remaining = call_json(live_server.url + "/prompt")[1]["exec_info"]["queue_remaining"]
    queue = call_json(live_server.url + "/queue")[1]  # the 30 s prompt holds the queue still meanwhile
    assert [item[1] for item in queue["queue_running"]] == [running]
    assert waiting in [item[1] for item in queue["queue_pending"]]
    assert remaining == 1 + len(queue["queue_pending"])
    call_json(live_server.url + "/interrupt", "POST", {"prompt_id": running})
    wait_for_history(live_server.url, waiting)
    assert call_json(live_server.url + "/prompt")[1]["exec_info"]["queue_remaining"] == 0
