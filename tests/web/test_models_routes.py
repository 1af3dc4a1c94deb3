"""The model routes: ComfyUI's plain names stay as they are; ?details=1 describes each file for the models panel."""
from __future__ import annotations

import json

import aiohttp

from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME
from tests.fixtures.model_servers import ModelFileServer
from tests.fixtures.tiny_checkpoints import write_kohya_lora
from tests.web.client import call_json, run_async


def test_details_describe_each_file_without_server_paths(own_server, tmp_path):
    tags = {"10_mychar": {"mychar": 12, "scarf": 4}}
    write_kohya_lora(tmp_path / "models" / "loras" / "style" / "mychar.safetensors",
                     metadata={"ss_base_model_version": "sd_v1", "ss_network_dim": "4", "ss_network_alpha": "2",
                               "ss_tag_frequency": json.dumps(tags), "modelspec.trigger_phrase": "mychar"})
    (tmp_path / "models" / "loras" / "login.safetensors").write_text("<!DOCTYPE html><html>sign in</html>")
    server = own_server()

    for prefix in ("", "/api"):
        assert call_json(f"{server.url}{prefix}/models")[1] == [
            "checkpoints", "loras", "vae", "embeddings", "diffusion_models", "unet", "text_encoders", "clip", "configs",
            "diffusers", "upscale_models", "gligen", "clip_vision", "style_models", "hypernetworks",
            "controlnet", "t2i_adapter"]
        assert call_json(f"{server.url}{prefix}/models/loras")[1] == ["login.safetensors",
                                                                        "style/mychar.safetensors"]

    status, loras = call_json(f"{server.url}/api/models/loras?details=1")
    assert status == 200
    by_name = {entry["name"]: entry for entry in loras}
    lora = by_name["style/mychar.safetensors"]
    assert (lora["folder"], lora["kind"], lora["architecture"], lora["problem"]) == ("loras", "lora", "SD1.x", None)
    assert lora["training"]["trigger_words"] == ["mychar"]
    assert lora["training"]["top_tags"] == ["mychar", "scarf"]
    assert (lora["training"]["network_dim"], lora["training"]["network_alpha"]) == (4, 2.0)
    assert "web page (HTML)" in by_name["login.safetensors"]["problem"]
    assert str(tmp_path) not in json.dumps(loras)  # problems name files relative to the install, never its path

    status, everything = call_json(f"{server.url}/api/models?details=1")
    assert status == 200
    checkpoint = next(entry for entry in everything if entry["folder"] == "checkpoints")
    assert (checkpoint["name"], checkpoint["kind"], checkpoint["architecture"]) == (DEMO_CHECKPOINT_NAME,
                                                                                   "checkpoint", "SD1.x")
    assert {entry["folder"] for entry in everything} == {"checkpoints", "loras"}
    assert call_json(f"{server.url}/api/models/nothing?details=1")[0] == 404


async def install_and_listen(base_url: str, body: dict, client_id: str) -> tuple[int, dict, list[tuple[str, dict]]]:
    """POST /api/models/install with the websocket open; collect model_install_* messages until done or error."""
    ws_url = base_url.replace("http", "ws", 1) + f"/ws?clientId={client_id}"
    messages = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url) as socket:
            await socket.receive(timeout=10)  # the status message every client gets first
            async with session.post(f"{base_url}/api/models/install", json={**body, "client_id": client_id}) as reply:
                status, answer = reply.status, await reply.json()
            if status != 202:
                return status, answer, messages
            while True:
                decoded = json.loads((await socket.receive(timeout=60)).data)
                if decoded["type"].startswith("model_install_"):
                    messages.append((decoded["type"], decoded["data"]))
                if decoded["type"] in ("model_install_done", "model_install_error"):
                    return status, answer, messages


def test_install_by_url_reports_progress_and_lands_in_the_listing(own_server, tmp_path):
    lora = write_kohya_lora(tmp_path / "src" / "style.safetensors", metadata={"modelspec.trigger_phrase": "inky"})
    server = own_server("--allow-private-downloads")  # the file server is on loopback
    with ModelFileServer({"style.safetensors": lora.read_bytes(), "page": b"<!DOCTYPE html><html>"}) as files:
        status, answer, messages = run_async(install_and_listen(
            server.url, {"source": files.url("style.safetensors")}, "installer"))
        assert status == 202
        assert all(data["install_id"] == answer["install_id"] for _, data in messages)
        progress = [data for kind, data in messages if kind == "model_install_progress"]
        assert progress[-1]["done"] == progress[-1]["total"] == lora.stat().st_size
        kind, done = messages[-1]
        assert kind == "model_install_done"
        assert (done["model"]["folder"], done["model"]["name"], done["model"]["kind"]) == (
            "loras", "style.safetensors", "lora")
        assert done["model"]["training"]["trigger_words"] == ["inky"]
        assert str(tmp_path) not in json.dumps(done)
        assert "style.safetensors" in call_json(f"{server.url}/api/models/loras")[1]

        _, _, failed = run_async(install_and_listen(server.url, {"source": files.url("page")}, "installer"))
        assert failed[-1][0] == "model_install_error" and "html" in failed[-1][1]["message"].lower()

    for source in ("/etc/passwd", "../models/x.safetensors", "", 5):
        status, reply = call_json(f"{server.url}/api/models/install", "POST", {"source": source})
        assert status == 400, source
    assert server.process.poll() is None
