"""Model files changed or broken on disk under a running server: the server keeps serving and names the file.

A checkpoint overwritten in place during a run (`cp new.safetensors models/checkpoints/X.safetensors` truncates and
rewrites the same inode) used to kill the server with SIGBUS, the weights being mapped from the file; a file whose
header nests 100,000 deep made every detailed model listing fail.
"""
from __future__ import annotations

import asyncio
import io
import json
import shutil
import uuid

import aiohttp
import numpy
import torch
from PIL import Image

from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME
from tests.fixtures.hostile_files import write_deeply_nested_safetensors
from tests.fixtures.tiny_checkpoints import FULL_VOCABULARY, build_sd1
from tests.web.client import call, call_json, run_async, text_to_image, wait_for_history

HOLD_SECONDS = 1.5  # the test plugin's Sleep node holds the run between the (cached) load and the sampler


def prompt_on(checkpoint: str, prefix: str) -> dict:
    prompt = text_to_image(seed=3, size=64, steps=2, prefix=prefix)
    prompt["4"]["inputs"]["ckpt_name"] = checkpoint
    return prompt


def held_before_sampling(prompt: dict) -> dict:
    """The same prompt with its sampler's seed (3) coming out of a Sleep node: the sampler waits for it."""
    prompt["20"] = {"class_type": "TestSleep", "inputs": {"seconds": HOLD_SECONDS, "tag": 3}}
    prompt["3"]["inputs"]["seed"] = ["20", 0]
    return prompt


def run(server, prompt: dict) -> dict:
    status, answer = call_json(f"{server.url}/prompt", "POST", {"prompt": prompt})
    assert status == 200, answer
    return wait_for_history(server.url, answer["prompt_id"])


def pixels(server, entry: dict) -> numpy.ndarray:
    image = entry["outputs"]["9"]["images"][0]
    status, _, data = call(f"{server.url}/view?filename={image['filename']}&type={image['type']}")
    assert status == 200
    return numpy.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=numpy.int16)


async def run_and_act_while_held(base_url: str, prompt: dict, action) -> tuple[str, bool]:
    """Queue `prompt` and call `action()` at the first progress of its Sleep node (20). Returns the prompt's id and
    whether the Sleep node was still running after `action` returned, i.e. the sampler had not started yet."""
    client_id = uuid.uuid4().hex
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{base_url}/ws?clientId={client_id}") as socket:
            await socket.receive(timeout=10)
            async with session.post(f"{base_url}/prompt", json={"prompt": prompt, "client_id": client_id}) as reply:
                prompt_id = (await reply.json())["prompt_id"]
            acted = held_after = False
            while True:
                message = await socket.receive(timeout=120)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    return prompt_id, held_after  # the server went away: the caller's checks say so
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                decoded = json.loads(message.data)
                kind, data = decoded["type"], decoded["data"]
                if data.get("prompt_id") != prompt_id:
                    continue
                if kind == "progress" and data.get("node") == "20":
                    if acted:
                        held_after = True
                    else:
                        await asyncio.to_thread(action)
                        acted = True
                if kind == "executing" and data.get("node") is None:
                    return prompt_id, held_after


def test_a_checkpoint_overwritten_in_place_during_a_run_neither_kills_the_server_nor_lingers(own_server, tmp_path):
    checkpoints = tmp_path / "models" / "checkpoints"
    # float32 on disk is what a CPU keeps in the file's dtype (the case that was mapped); the new file is float16,
    # so it is smaller and the truncation leaves the old weights' pages beyond the file's end
    first = build_sd1(tmp_path / "built", "first.safetensors", seed=1, dtype=torch.float32,
                      vocab_size=FULL_VOCABULARY).path
    second = build_sd1(tmp_path / "built", "second.safetensors", seed=5, dtype=torch.float16,
                       vocab_size=FULL_VOCABULARY).path
    assert second.stat().st_size < first.stat().st_size
    checkpoints.mkdir(parents=True)
    target = checkpoints / "swapped.safetensors"
    shutil.copyfile(first, target)
    shutil.copyfile(second, checkpoints / "fresh.safetensors")
    inode = target.stat().st_ino
    server = own_server()

    before = run(server, prompt_on("swapped.safetensors", "before"))  # loads the model; the next run reuses it
    assert before["status"]["status_str"] == "success"

    def overwrite() -> None:
        shutil.copyfile(second, target)  # opens the existing file for writing: truncated, same inode

    during_id, held = run_async(run_and_act_while_held(
        server.url, held_before_sampling(prompt_on("swapped.safetensors", "during")), overwrite))
    assert target.stat().st_ino == inode
    assert server.process.poll() is None, f"the server died:\n{server.log()}"
    assert held, "the file was overwritten after the run had moved on: nothing was tested"
    during = wait_for_history(server.url, during_id)
    assert during["status"]["status_str"] == "success"
    assert numpy.array_equal(pixels(server, during), pixels(server, before))  # wholly the weights it had loaded

    after = run(server, prompt_on("swapped.safetensors", "after"))
    fresh = run(server, prompt_on("fresh.safetensors", "fresh"))
    assert after["status"]["status_str"] == fresh["status"]["status_str"] == "success"
    assert numpy.array_equal(pixels(server, after), pixels(server, fresh))  # the new file, loaded again
    assert not numpy.array_equal(pixels(server, after), pixels(server, before))
    assert server.log().count("loaded swapped.safetensors") == 2


def test_a_header_nested_100000_deep_is_named_as_broken_and_the_listing_goes_on(own_server, tmp_path):
    write_deeply_nested_safetensors(tmp_path / "models" / "checkpoints" / "deep.safetensors")
    server = own_server()

    for route in ("/api/models/checkpoints?details=1", "/api/models?details=1"):
        status, listed = call_json(server.url + route)
        assert status == 200, listed
        by_name = {entry["name"]: entry for entry in listed if entry["folder"] == "checkpoints"}
        assert by_name[DEMO_CHECKPOINT_NAME]["problem"] is None
        assert "nested too deeply" in by_name["deep.safetensors"]["problem"]
    assert call_json(server.url + "/api/models/checkpoints")[1] == ["deep.safetensors", DEMO_CHECKPOINT_NAME]
