"""A plain API client for the web tests: urllib for HTTP, aiohttp for the websocket (what API scripts do)."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from tests.fixtures.example_workflows import example_prompt

REPO = Path(__file__).resolve().parents[2]


def call(url: str, method: str = "GET", body: Any = None, *, raw: bytes | None = None,
         headers: dict | None = None, timeout: float = 60) -> tuple[int, dict, bytes]:
    """(status, headers, body bytes); error statuses are returned, not raised."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def call_json(url: str, method: str = "GET", body: Any = None, **kwargs) -> tuple[int, Any]:
    status, _headers, payload = call(url, method, body, **kwargs)
    return status, json.loads(payload) if payload else None


def text_to_image(seed: int = 1, size: int = 64, steps: int = 2, prefix: str = "web") -> dict:
    """The shipped default workflow, small and quick on the demo model."""
    prompt = example_prompt("text_to_image.json")
    prompt["5"]["inputs"].update(width=size, height=size)
    prompt["3"]["inputs"].update(seed=seed, steps=steps)
    prompt["9"]["inputs"]["filename_prefix"] = prefix
    return prompt


def sleep_prompt(seconds: float, tag: int = 0) -> dict:
    return {"1": {"class_type": "TestSleep", "inputs": {"seconds": seconds, "tag": tag}}}


def wait_for_history(base_url: str, prompt_id: str, timeout: float = 120) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, history = call_json(f"{base_url}/history/{prompt_id}")
        if status == 200 and prompt_id in history:
            return history[prompt_id]
        time.sleep(0.05)
    raise AssertionError(f"prompt {prompt_id} did not finish within {timeout} s")


async def submit_and_listen(base_url: str, body: dict, client_id: str, *, previews: bool = False,
                            feature_flags: dict | None = None,
                            timeout: float = 120) -> tuple[dict, list[tuple[str, Any]]]:
    """Connect the websocket, POST /prompt, collect messages until the prompt is done (executing node null).

    With `feature_flags`, the client first announces them as ComfyUI's page does (which turns previews on) and
    waits for the server's answer. Returns the /prompt answer and the messages as (type, data); binary frames as
    ("binary", bytes)."""
    ws_url = base_url.replace("http", "ws", 1) + f"/ws?clientId={client_id}" + ("&previews=1" if previews else "")
    messages: list[tuple[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url) as socket:
            first = await socket.receive(timeout=10)
            messages.append(("status", json.loads(first.data)["data"]) if first.type == aiohttp.WSMsgType.TEXT
                            else ("unexpected", first.type))
            if feature_flags is not None:
                await socket.send_json({"type": "feature_flags", "data": feature_flags})
                answer = json.loads((await socket.receive(timeout=10)).data)
                messages.append((answer["type"], answer["data"]))
            async with session.post(base_url + "/prompt", json={**body, "client_id": client_id}) as response:
                answer = await response.json()
                if response.status != 200:
                    return answer, messages
            while True:
                message = await socket.receive(timeout=timeout)
                if message.type == aiohttp.WSMsgType.BINARY:
                    messages.append(("binary", message.data))
                    continue
                decoded = json.loads(message.data)
                messages.append((decoded["type"], decoded["data"]))
                data = decoded["data"]
                if (decoded["type"] == "executing" and data.get("node") is None
                        and data.get("prompt_id") == answer["prompt_id"]):
                    return answer, messages


def run_async(coroutine) -> Any:
    """asyncio.run on a thread of its own: Playwright's sync API keeps a loop running on the test's thread."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def listen(base_url: str, body: dict, client_id: str, **kwargs):
    return run_async(submit_and_listen(base_url, body, client_id, **kwargs))
