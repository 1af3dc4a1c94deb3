"""Safe by default: cross-site and DNS-rebinding requests refused, paths kept inside their folders (.., absolute,
symbolic links) in /view, uploads and node inputs, bounded bodies, images only, a token beyond loopback."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid

import aiohttp
import pytest
from PIL import Image

from tests.web.client import REPO, call, call_json, run_async, text_to_image


def png_bytes(size=(8, 8), color=(200, 10, 10, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(fields: dict[str, bytes | str], file_name: str = "picture.png") -> tuple[bytes, dict]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        data = value.encode() if isinstance(value, str) else value
        disposition = f'form-data; name="{name}"' + (f'; filename="{file_name}"' if name == "image" else "")
        parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload(server, fields, file_name="picture.png", path="/upload/image"):
    body, headers = multipart(fields, file_name)
    status, _, payload = call(server.url + path, "POST", raw=body, headers=headers)
    return status, json.loads(payload)


# -- cross-site requests and DNS rebinding -------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://127.0.0.1:1"}])
def test_cross_site_state_changes_are_refused(live_server, headers):
    before = call_json(live_server.url + "/queue")[1]
    status, answer = call_json(live_server.url + "/prompt", "POST", {"prompt": text_to_image()}, headers=headers)
    assert status == 403 and answer["error"]["type"] == "cross_site_request"
    assert call_json(live_server.url + "/queue")[1] == before
    assert call(live_server.url + "/interrupt", "POST", {}, headers=headers)[0] == 403


def test_same_origin_pages_may_post(live_server):
    status, _ = call_json(live_server.url + "/queue", "POST", {"delete": []},
                          headers={"Origin": live_server.url, "Sec-Fetch-Site": "same-origin"})
    assert status == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8188", "192.168.1.10", "127.0.0.1.evil.example"])
def test_dns_rebinding_hosts_are_refused(live_server, host):
    status, answer = call_json(live_server.url + "/queue", headers={"Host": host})
    assert status == 403 and answer["error"]["type"] == "forbidden_host"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]:8188"])
def test_loopback_hosts_are_served(live_server, host):
    assert call_json(live_server.url + "/queue", headers={"Host": host})[0] == 200


def test_a_cross_site_websocket_is_refused(live_server):
    async def connect():
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(live_server.url.replace("http", "ws", 1) + "/ws",
                                              headers={"Origin": "http://evil.example"}):
                    return "connected"
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    assert run_async(connect()) == 403


# -- paths ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def secret(live_server):
    """A file beside the server's folders, and links to it from inside them."""
    path = live_server.base_dir / "secret.png"
    path.write_bytes(png_bytes())
    for folder in ("output", "input"):
        (live_server.base_dir / folder).mkdir(exist_ok=True)
        link = live_server.base_dir / folder / "link.png"
        if not link.exists():
            os.symlink(path, link)
    return path


@pytest.mark.parametrize("query", ["filename=../secret.png", "filename=secret.png&subfolder=..",
                                   "filename=link.png", "filename=link.png&type=input",
                                   "filename={secret}", "filename=secret.png&subfolder={base}",
                                   "filename=x.png&type=models"])
def test_view_keeps_to_its_folders(live_server, secret, query):
    query = query.format(secret=secret, base=live_server.base_dir)
    status, _, body = call(f"{live_server.url}/view?{query}")
    assert status in (400, 403)
    assert body != secret.read_bytes() and str(live_server.base_dir).encode() not in body


def test_uploads_keep_to_the_input_folder_and_get_safe_names(live_server, secret):
    status, answer = upload(live_server, {"image": png_bytes(), "subfolder": "../outside"})
    assert status == 403 and not (live_server.base_dir / "outside").exists()
    status, answer = upload(live_server, {"image": png_bytes()}, file_name="../../escape.png")
    assert status == 200 and answer == {"name": "escape.png", "subfolder": "", "type": "input"}
    assert (live_server.base_dir / "input" / "escape.png").is_file()
    status, answer = upload(live_server, {"image": png_bytes()}, file_name=".hidden<>.png")
    assert status == 200 and answer["name"] == "hidden__.png"
    status, again = upload(live_server, {"image": png_bytes(color=(1, 2, 3, 255))}, file_name="escape.png")
    assert again["name"] == "escape (1).png"  # never overwritten unless asked
    status, replaced = upload(live_server, {"image": png_bytes(), "overwrite": "true"}, file_name="escape.png")
    assert replaced["name"] == "escape.png"
    status, nested = upload(live_server, {"image": png_bytes(), "subfolder": "masks"})
    assert nested == {"name": "picture.png", "subfolder": "masks", "type": "input"}


def test_uploads_must_be_images_within_limits(live_server):
    status, answer = upload(live_server, {"image": b"#!/bin/sh\nrm -rf /\n"}, file_name="evil.png")
    assert status == 400 and answer["error"]["type"] == "invalid_image"
    assert not (live_server.base_dir / "input" / "evil.png").exists()
    status, answer = upload(live_server, {"image": png_bytes(size=(9000, 8000))}, file_name="huge.png")
    assert status == 413 and answer["error"]["type"] == "image_too_large"
    status, answer = upload(live_server, {"image": png_bytes() + b"\0" * (65 << 20)}, file_name="big.png")
    assert status == 413
    assert call_json(live_server.url + "/queue")[0] == 200


def test_a_mask_upload_puts_the_alpha_on_the_original(live_server):
    upload(live_server, {"image": png_bytes(color=(10, 20, 30, 255)), "overwrite": "1"}, file_name="base.png")
    mask = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 77)).save(mask, format="PNG")
    status, answer = upload(live_server, {"image": mask.getvalue(), "original_ref": json.dumps(
        {"filename": "base.png", "subfolder": "", "type": "input"})}, file_name="clipspace-mask.png",
        path="/upload/mask")
    assert status == 200
    with Image.open(live_server.base_dir / "input" / answer["name"]) as saved:
        assert saved.getpixel((3, 3)) == (10, 20, 30, 77)
    status, answer = upload(live_server, {"image": mask.getvalue(), "original_ref": json.dumps(
        {"filename": "../secret.png", "type": "input"})}, path="/upload/mask")
    assert status == 403


def test_oversized_json_is_refused(live_server):
    status, answer = call_json(live_server.url + "/prompt", "POST", raw=b'{"prompt": "' + b"x" * (17 << 20) + b'"}')
    assert status == 413 and answer["error"]["type"] == "body_too_large"


@pytest.mark.parametrize("node,name,value", [
    ("LoadImage", "image", "../secret.png"), ("LoadImage", "image", "link.png"),
    ("CheckpointLoaderSimple", "ckpt_name", "../../secret.png"),
    ("CheckpointLoaderSimple", "ckpt_name", "outside.safetensors"),
    ("SaveImage", "filename_prefix", "../escaped"), ("SaveImage", "filename_prefix", "/tmp/escaped"),
    ("SaveImage", "filename_prefix", "linked/escaped"),
    ("LoraLoader", "lora_name", "../checkpoints/latentloom-demo-sd1-random-weights.safetensors"),
    ("LoraLoader", "lora_name", "outside.safetensors"),
    ("VAELoader", "vae_name", "/etc/passwd"), ("VAELoader", "vae_name", "outside.safetensors"),
])
def test_node_inputs_that_leave_their_folder_fail_validation(live_server, secret, node, name, value):
    for kind in ("checkpoints", "loras", "vae"):
        outside = live_server.base_dir / "models" / kind / "outside.safetensors"
        outside.parent.mkdir(parents=True, exist_ok=True)
        if not outside.is_symlink():
            os.symlink(secret, outside)
    if not (live_server.base_dir / "output" / "linked").is_symlink():
        os.symlink(live_server.base_dir, live_server.base_dir / "output" / "linked")
    node_id = {"LoadImage": "10", "CheckpointLoaderSimple": "4", "SaveImage": "9", "LoraLoader": "20",
               "VAELoader": "21"}[node]
    prompt = text_to_image()
    if node == "LoadImage":
        prompt = {"10": {"class_type": "LoadImage", "inputs": {"image": value}},
                  "11": {"class_type": "PreviewImage", "inputs": {"images": ["10", 0]}}}
    elif node == "LoraLoader":
        prompt["20"] = {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1], name: value,
                                                               "strength_model": 1.0, "strength_clip": 1.0}}
        prompt["3"]["inputs"]["model"] = ["20", 0]
    elif node == "VAELoader":
        prompt["21"] = {"class_type": "VAELoader", "inputs": {name: value}}
        prompt["8"]["inputs"]["vae"] = ["21", 0]
    else:
        prompt[node_id]["inputs"][name] = value
    outputs_before = sorted(os.listdir(live_server.base_dir / "output"))
    status, answer = call_json(live_server.url + "/prompt", "POST", {"prompt": prompt})
    assert status == 400
    (error,) = answer["node_errors"][node_id]["errors"]
    assert error["extra_info"]["input_name"] == name
    assert str(live_server.base_dir) not in json.dumps(answer)
    assert sorted(os.listdir(live_server.base_dir / "output")) == outputs_before
    assert not (live_server.base_dir / "escaped_00001_.png").exists()


# -- the token ---------------------------------------------------------------------------------------------------

def test_a_token_guards_every_route_and_the_websocket(own_server):
    token = "s3cret-token"
    server = own_server("--auth-token", token, headers={"Authorization": f"Bearer {token}"})
    for path in ("/", "/queue", "/object_info", "/view?filename=x.png", "/api/system_stats"):
        assert call(server.url + path)[0] == 401
    assert call(server.url + "/prompt", "POST", {"prompt": text_to_image()})[0] == 401
    assert call(server.url + "/queue", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert call(server.url + "/queue", headers={"Authorization": f"Bearer {token}"})[0] == 200
    status, headers, _ = call(f"{server.url}/?token={token}")
    assert status == 200 and "latentloom_token=" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    assert call(server.url + "/queue", headers={"Cookie": f"latentloom_token={token}"})[0] == 200

    async def connect(query):
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(server.url.replace("http", "ws", 1) + "/ws" + query) as socket:
                    return json.loads((await socket.receive(timeout=10)).data)["type"]
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    assert run_async(connect("")) == 401
    assert run_async(connect(f"?token={token}")) == "status"


def test_insecure_serves_a_public_address_without_a_token(own_server):
    server = own_server("--host", "0.0.0.0", "--insecure")
    assert call_json(server.url + "/queue")[0] == 200
    assert call_json(server.url + "/queue", headers={"Host": "my-box.lan:8188"})[0] == 200  # no loopback-only rule
    assert call_json(server.url + "/prompt", "POST", {"prompt": {}}, headers={"Origin": "http://evil.example",
                                                                             "Host": "my-box.lan"})[0] == 403


def test_a_public_address_needs_a_token_or_insecure(tmp_path):
    refused = subprocess.run([sys.executable, "-m", "latentloom", "serve", "--base-dir", str(tmp_path),
                              "--host", "0.0.0.0", "--port", "1"], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode != 0
    assert "--auth-token" in refused.stderr and "--insecure" in refused.stderr
    assert not (tmp_path / "user").exists()  # refused before anything started
