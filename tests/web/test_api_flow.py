"""A ComfyUI API client against a real server: POST /prompt, websocket messages in order, /history, /view."""
from __future__ import annotations

import io
import json
import struct
import uuid

from PIL import Image

from tests.web.client import (call, call_json, listen, run_async, sleep_prompt, submit_and_listen, text_to_image,
                              wait_for_history)


def test_full_client_flow_prompt_websocket_history_view(live_server):
    client_id = uuid.uuid4().hex
    workflow = {"nodes": [], "links": [], "version": 0.4}
    answer, messages = listen(live_server.url, {"prompt": text_to_image(seed=11),
                                                "extra_data": {"extra_pnginfo": {"workflow": workflow}}}, client_id)
    prompt_id = answer["prompt_id"]
    assert answer["node_errors"] == {} and isinstance(answer["number"], int)
    kinds = [kind for kind, _ in messages]
    assert kinds[0] == "status" and messages[0][1]["sid"] == client_id  # sent on connect
    start = kinds.index("execution_start")
    assert kinds[start + 1] == "execution_cached"
    assert kinds.index("execution_success") > max(i for i, k in enumerate(kinds) if k == "progress")
    assert kinds[-1] == "executing" and messages[-1][1]["node"] is None
    ran = [data["node"] for kind, data in messages if kind == "executing" and data["node"] is not None]
    cached = messages[start + 1][1]["nodes"]  # the checkpoint stays loaded from earlier tests on this server
    assert "4" in ran or "4" in cached
    assert ran.index("3") < ran.index("8") < ran.index("9")  # sampler, decode, save
    assert not set(ran) & set(cached)
    steps = [data for kind, data in messages if kind == "progress" and data["node"] == "3"]
    assert [s["value"] for s in steps] == [1, 2] and all(s["max"] == 2 and s["prompt_id"] == prompt_id for s in steps)
    assert "binary" not in kinds  # previews only for clients that ask
    (executed,) = [data for kind, data in messages if kind == "executed"]
    assert executed["node"] == "9" and executed["prompt_id"] == prompt_id

    entry = wait_for_history(live_server.url, prompt_id)
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    assert [m[0] for m in entry["status"]["messages"]] == ["execution_start", "execution_cached", "execution_success"]
    assert entry["prompt"][1] == prompt_id and entry["prompt"][2] == text_to_image(seed=11)
    (image,) = entry["outputs"]["9"]["images"]
    assert image == executed["output"]["images"][0] and image["type"] == "output"

    status, headers, body = call(f"{live_server.url}/api/view?filename={image['filename']}"
                                 f"&subfolder={image['subfolder']}&type=output")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert headers["Content-Disposition"] == f'filename="{image["filename"]}"'
    assert body == (live_server.base_dir / "output" / image["filename"]).read_bytes()
    with Image.open(io.BytesIO(body)) as png:
        assert png.size == (64, 64)
        assert json.loads(png.text["prompt"]) == text_to_image(seed=11)
        assert json.loads(png.text["workflow"]) == workflow


def test_previews_go_to_a_client_that_asked(live_server):
    answer, messages = listen(live_server.url, {"prompt": text_to_image(seed=12, steps=3)}, uuid.uuid4().hex,
                              previews=True)
    frames = [data for kind, data in messages if kind == "binary"]
    assert len(frames) >= 1
    event, image_format = struct.unpack(">II", frames[0][:8])
    assert (event, image_format) == (1, 1)
    with Image.open(io.BytesIO(frames[0][8:])) as preview:
        assert preview.format == "JPEG" and preview.size[0] > 0


def test_events_of_a_prompt_go_only_to_its_client(live_server):
    import asyncio

    import aiohttp

    async def scenario():
        async with aiohttp.ClientSession() as session:
            ws_base = live_server.url.replace("http", "ws", 1)
            async with session.ws_connect(f"{ws_base}/ws?clientId=bystander") as bystander:
                await bystander.receive(timeout=10)  # status on connect
                answer, _ = await submit_and_listen(live_server.url, {"prompt": sleep_prompt(0.1, 5)}, "owner")
                seen = []
                while True:
                    try:
                        message = await bystander.receive(timeout=1)
                    except asyncio.TimeoutError:
                        return seen
                    seen.append(json.loads(message.data)["type"])

    seen = run_async(scenario())
    assert seen and set(seen) == {"status"}  # queue status reaches everyone, the run's events do not


def test_read_routes_have_comfyui_shapes_at_root_and_under_api(live_server):
    for prefix in ("", "/api"):
        status, info = call_json(f"{live_server.url}{prefix}/object_info")
        assert status == 200
        ksampler = info["KSampler"]
        assert set(ksampler) >= {"input", "input_order", "output", "output_is_list", "output_name", "name",
                                 "display_name", "description", "category", "output_node"}
        assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [
            "latentloom-demo-sd1-random-weights.safetensors"]
        status, one = call_json(f"{live_server.url}{prefix}/object_info/KSampler")
        assert status == 200 and one == {"KSampler": ksampler}
        status, stats = call_json(f"{live_server.url}{prefix}/system_stats")
        assert status == 200
        assert set(stats["system"]) >= {"os", "python_version", "embedded_python", "ram_total", "ram_free"}
        assert set(stats["devices"][0]) >= {"name", "type", "index", "vram_total", "vram_free", "torch_vram_total",
                                            "torch_vram_free"}
        assert call_json(f"{live_server.url}{prefix}/models")[1] == [
            "checkpoints", "loras", "vae", "embeddings", "diffusion_models", "unet", "text_encoders", "clip", "configs",
            "diffusers", "upscale_models", "gligen", "clip_vision", "style_models", "hypernetworks",
            "controlnet", "t2i_adapter"]
        assert call_json(f"{live_server.url}{prefix}/models/checkpoints")[1] == [
            "latentloom-demo-sd1-random-weights.safetensors"]
        assert call_json(f"{live_server.url}{prefix}/models/nothing")[0] == 404
        assert call_json(f"{live_server.url}{prefix}/embeddings") == (200, [])
        assert call_json(f"{live_server.url}{prefix}/extensions")[0] == 200
        status, queue = call_json(f"{live_server.url}{prefix}/queue")
        assert status == 200 and set(queue) == {"queue_running", "queue_pending"}
        status, prompt_status = call_json(f"{live_server.url}{prefix}/prompt")
        assert status == 200 and "queue_remaining" in prompt_status["exec_info"]


def test_system_stats_tells_what_the_result_cache_holds(live_server):
    listen(live_server.url, {"prompt": text_to_image(seed=14)}, uuid.uuid4().hex)
    status, stats = call_json(f"{live_server.url}/system_stats")
    assert status == 200 and set(stats) == {"system", "devices", "cache", "workers"}  # ComfyUI's keys, and ours
    cache = stats["cache"]
    assert set(cache) == {"entries", "models", "bytes", "compute_seconds"}  # counts only: no signatures
    assert cache["entries"] >= 6 and cache["models"] >= 1  # the checkpoint's MODEL, CLIP and VAE and the run's nodes
    assert cache["bytes"]["cpu"] > 1_000_000 and cache["compute_seconds"] > 0  # the demo model's weights at least
    (worker,) = stats["workers"]  # without --cluster, the one local worker, which holds that whole cache
    assert worker["name"] == "local" and worker["cache"] == cache and worker["runs"] >= 1
    assert call_json(f"{live_server.url}/cluster")[1]["workers"][0]["name"] == "local"


def test_the_canvas_is_served_at_the_root(live_server):
    status, headers, body = call(live_server.url + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/")


def test_the_worker_loads_the_model_libraries_ahead_of_its_first_prompt(own_server):
    server = own_server()
    server.wait_for_log("loaded ahead of the first run")  # the user presses Queue a moment after start-up
    answer, _ = listen(server.url, {"prompt": text_to_image(seed=13)}, uuid.uuid4().hex)
    assert wait_for_history(server.url, answer["prompt_id"])["status"]["status_str"] == "success"
    log = server.log()
    ahead = log.find("loaded ahead of the first run")
    assert "nodes.runtime.models.unet_model" in log[ahead:].splitlines()[0]
    assert "ahead of the first run (" not in log  # no step failed
    assert ahead < log.find("loaded latentloom-demo-sd1-random-weights.safetensors: SD1.x")


def test_a_prompt_queued_while_the_server_loads_ahead_runs_once_the_step_under_way_ends(own_server):
    """A prompt imports what it needs itself: it does not wait for the rest of the preload (a prompt of plugin nodes
    may need none of it)."""
    server = own_server()  # returns as soon as HTTP answers: the worker has just begun loading ahead
    answer = call_json(server.url + "/prompt", "POST", {"prompt": sleep_prompt(0)})[1]
    assert wait_for_history(server.url, answer["prompt_id"])["status"]["status_str"] == "success"
    server.wait_for_log("stopped loading ahead after")
    log = server.log()
    stopped = log[log.find("stopped loading ahead after"):].splitlines()[0]
    assert "model_library.hashes" not in stopped  # the last step never started
    assert "loaded ahead of the first run" not in log


def test_a_server_stopped_while_it_loads_ahead_exits_without_waiting_for_the_imports(own_server):
    server = own_server()
    server.stop()
    log = server.log()
    assert server.process.returncode == 0
    assert "stopping: the running prompt is interrupted" in log
    assert "still loading ahead of the first run: not waiting for it" in log
    assert "loaded ahead of the first run" not in log  # it did not wait for the rest of the imports
    assert "Traceback" not in log
