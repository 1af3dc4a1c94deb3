"""Safe by default: cross-site and DNS-rebinding requests refused, paths kept inside their folders (.., absolute,
symbolic links) in /view, uploads and node inputs, bounded bodies, images only under an image extension, /view
running nothing, security headers on every answer, a token beyond loopback."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import aiohttp
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.web.client import REPO, call, call_json, run_async, text_to_image


def png_bytes(size=(8, 8), color=(200, 10, 10, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


# what a stored script would do from our origin: leave a mark, and queue a prompt (it would pass the Origin check)
STORED_SCRIPT_TAG = 987654321
STORED_SCRIPT = ("localStorage.setItem('stored-script-ran', location.href);"
                 "fetch('/prompt', {method: 'POST', body: JSON.stringify({prompt: {'1': {class_type: 'TestSleep', "
                 f"inputs: {{seconds: 0, tag: {STORED_SCRIPT_TAG}}}}}}}}})}});")
# files a user or a plugin might leave in input/ that a browser would run as a page of ours if served as they are
SCRIPT_FILES = {
    "page.html": f"<!doctype html><html><body><script>{STORED_SCRIPT}</script></body></html>",
    "drawing.svg": f'<svg xmlns="http://www.w3.org/2000/svg"><script>{STORED_SCRIPT}</script></svg>',
    "page.xhtml": ('<html xmlns="http://www.w3.org/1999/xhtml"><body><script>//<![CDATA[\n'
                   f"{STORED_SCRIPT}\n//]]></script></body></html>"),
    "data.xml": ('<?xml version="1.0"?><root><script xmlns="http://www.w3.org/1999/xhtml">//<![CDATA[\n'
                 f"{STORED_SCRIPT}\n//]]></script></root>"),
    "code.js": STORED_SCRIPT,
}


def polyglot_png() -> bytes:
    """A valid PNG that is also an HTML page with a script (in a text chunk), as the issue's attack used."""
    info = PngInfo()
    info.add_text("comment", f"<html><body><script>{STORED_SCRIPT}</script></body></html>")
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (30, 60, 90)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def multipart(fields: dict[str, bytes | str], file_name: str | bytes = "picture.png") -> tuple[bytes, dict]:
    boundary = uuid.uuid4().hex
    file_name = file_name if isinstance(file_name, bytes) else file_name.encode()
    parts = []
    for name, value in fields.items():
        data = value.encode() if isinstance(value, str) else value
        disposition = f'form-data; name="{name}"'.encode() + (b'; filename="' + file_name + b'"'
                                                               if name == "image" else b"")
        parts.append(f"--{boundary}\r\n".encode() + b"Content-Disposition: " + disposition + b"\r\n\r\n" + data
                     + b"\r\n")
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


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 100, 50)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize("kind,sent,stored", [
    ("polyglot", "cat.html", "cat.png"), ("png", "sketch.svg", "sketch.png"), ("png", "form.xhtml", "form.png"),
    ("png", "noextension", "noextension.png"), ("png", "Shot.PNG", "Shot.PNG"), ("jpeg", "photo.png", "photo.jpg"),
    ("jpeg", "photo.jpeg", "photo.jpeg"),
])
def test_uploads_are_stored_under_the_extension_of_the_format_pillow_read(live_server, kind, sent, stored):
    data = {"polyglot": polyglot_png, "png": png_bytes, "jpeg": jpeg_bytes}[kind]()
    status, answer = upload(live_server, {"image": data, "overwrite": "true"}, file_name=sent)
    assert status == 200 and answer["name"] == stored
    assert (live_server.base_dir / "input" / stored).read_bytes() == data
    assert sent == stored or not (live_server.base_dir / "input" / sent).exists()


def test_a_nul_in_an_upload_file_name_is_a_clear_400(live_server):
    status, answer = upload(live_server, {"image": png_bytes()}, file_name=b"cat\x00.png")
    assert status == 400 and answer["error"]["type"] == "invalid_form"
    assert "NUL" in answer["error"]["message"]
    status, answer = upload(live_server, {"image": png_bytes(), "subfolder": "a\x00b"})
    assert status == 400 and "NUL" in answer["error"]["message"]
    status, _, body = call(f"{live_server.url}/view?filename=cat%00.png")
    assert status == 400 and b"NUL" in body
    assert call_json(live_server.url + "/queue")[0] == 200


@pytest.mark.parametrize("name", sorted(SCRIPT_FILES))
def test_view_sends_files_that_are_not_media_as_downloads(live_server, name):
    (live_server.base_dir / "input" / name).write_text(SCRIPT_FILES[name])
    status, headers, body = call(f"{live_server.url}/view?filename={name}&type=input")
    assert status == 200 and body == SCRIPT_FILES[name].encode()
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"] == f'attachment; filename="{name}"'
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]


def test_view_shows_images_inline_under_a_policy_that_runs_nothing(live_server):
    status, answer = upload(live_server, {"image": polyglot_png(), "overwrite": "true"}, file_name="cat.html")
    assert status == 200
    status, headers, _ = call(f"{live_server.url}/view?filename={answer['name']}&type=input")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert headers["Content-Disposition"] == 'filename="cat.png"'
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "script-src" not in policy


def assert_security_headers(headers: dict) -> None:
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Server"] == "Latentloom"


@pytest.mark.parametrize("method,path,expected", [
    ("GET", "/", 200), ("GET", "/queue", 200), ("GET", "/api/object_info/KSampler", 200),
    ("GET", "/static/main.js", 200), ("GET", "/static/missing.js", 404), ("GET", "/no/such/route", 404),
    ("GET", "/view?filename=missing.png", 404), ("GET", "/view?filename=x.png&type=models", 400),
    ("POST", "/prompt", 400), ("POST", "/upload/image", 400),
])
def test_every_answer_carries_the_security_headers(live_server, method, path, expected):
    status, headers, _ = call(live_server.url + path, method, raw=b"{}" if method == "POST" else None)
    assert status == expected
    assert_security_headers(headers)


def test_the_canvas_runs_only_its_own_modules(live_server):
    status, headers, page = call(live_server.url + "/")
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert not re.search(rb"<script(?![^>]*\bsrc=)", page), "an inline script would be refused by the policy"
    assert not re.search(rb"\sstyle=|\son[a-z]+=", page), "inline styles and handlers would be refused"


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
    ("SaveImage", "filename_prefix", "../escaped"), ("SaveImage", "filename_prefix", "/tmp/escaped"),
    ("SaveImage", "filename_prefix", "linked/escaped"),
    ("LoraLoader", "lora_name", "../checkpoints/latentloom-demo-sd1-random-weights.safetensors"),
    ("VAELoader", "vae_name", "/etc/passwd"),
])
def test_node_inputs_that_leave_their_folder_fail_validation(live_server, secret, node, name, value):
    """Links the owner put in a model folder are followed (tests/web/test_model_links.py); names still may not go up."""
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

class _Unredirected(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the redirect itself is the answer under test


def first_answer(url: str) -> tuple[int, dict]:
    """(status, headers) of a GET, redirects not followed."""
    try:
        with urllib.request.build_opener(_Unredirected).open(url, timeout=60) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_a_token_guards_every_route_and_the_websocket(own_server):
    token = "s3cret-token"
    server = own_server("--auth-token", token, headers={"Authorization": f"Bearer {token}"})
    for path in ("/", "/queue", "/object_info", "/view?filename=x.png", "/api/system_stats"):
        assert call(server.url + path)[0] == 401
    assert call(server.url + "/prompt", "POST", {"prompt": text_to_image()})[0] == 401
    assert call(server.url + "/queue", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert call(server.url + "/queue", headers={"Authorization": f"Bearer {token}"})[0] == 200
    status, headers = first_answer(f"{server.url}/?token={token}&lang=en&lang=fr")
    assert status == 303 and headers["Location"] == "/?lang=en&lang=fr"  # the token leaves the address bar
    assert "latentloom_token=" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    assert "SameSite=Lax" in headers["Set-Cookie"] and headers["Cache-Control"] == "no-store"
    assert_security_headers(headers)
    status, headers = first_answer(f"{server.url}/?token=wrong")
    assert status == 401 and "Set-Cookie" not in headers
    assert_security_headers(headers)
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
