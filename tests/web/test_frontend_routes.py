"""The small routes ComfyUI's frontend calls (issue 19 §1), on a real server over real files: plugins' translations
and example workflows, the template packages, the model browser and safetensors metadata, /view's channels and
previews, the /internal routes and the log sent over the websocket."""
from __future__ import annotations

import io
import json
import os
import struct
import time

import aiohttp
import pytest
from PIL import Image

from graph_engine.partial_files import SAVING, is_partial_name, partial_file
from tests.web.client import call, call_json, run_async
from tests.web.conftest import prepare_base, start_server
from web.template_packages import installed_template_folders

METADATA = {"ss_output_name": "tiny", "modelspec.title": "Tiny style"}


def write_safetensors(path, metadata: dict | None) -> None:
    """A complete one-tensor safetensors file, with `metadata` as its __metadata__ when given."""
    header = {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    if metadata is not None:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0\0\0\0")


def write_plugin(base, name: str, files: dict[str, str]) -> None:
    folder = base / "custom_nodes" / name
    for relative, text in {"__init__.py": "NODE_CLASS_MAPPINGS = {}\n", **files}.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = prepare_base(tmp_path_factory.mktemp("frontend"))
    write_plugin(base, "pack_a", {
        "locales/en/main.json": json.dumps({"x": {"a": 1, "b": 1}}),
        "locales/en/nodeDefs.json": json.dumps({"NodeA": {"display_name": "Node A"}}),
        "locales/fr/main.json": json.dumps({"x": {"a": "un"}}),
        "example_workflows/demo.json": json.dumps({"nodes": [], "from": "example_workflows"}),
        "workflows/demo.json": json.dumps({"nodes": [], "from": "workflows"})})
    write_plugin(base, "pack_b", {"locales/en/main.json": json.dumps({"x": {"b": 2}}),
                                  "locales/de/main.json": "{not json"})
    write_safetensors(base / "models" / "loras" / "styles" / "tiny.safetensors", METADATA)
    Image.new("RGB", (6, 4), (200, 10, 10)).save(base / "models" / "loras" / "styles" / "tiny.preview.png")
    write_safetensors(base / "models" / "loras" / "plain.safetensors", None)
    picture = Image.new("RGBA", (4, 2), (10, 20, 30, 255))
    picture.putpixel((0, 0), (10, 20, 30, 0))
    (base / "input").mkdir(exist_ok=True)
    picture.save(base / "input" / "masked.png")
    (base / "input" / "notes.png").write_text("not a picture")
    running = start_server(base)
    yield running
    running.stop()


def picture(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    image.load()
    return image


def test_i18n_merges_the_plugins_locales_as_comfyui_does(server):
    status, translations = call_json(server.url + "/i18n")
    assert status == 200 and call_json(server.url + "/api/i18n")[1] == translations
    # pack_b is read after pack_a: its value wins, the keys it does not name stay; extra files under their key
    assert translations["en"] == {"x": {"a": 1, "b": 2}, "nodeDefs": {"NodeA": {"display_name": "Node A"}}}
    assert translations["fr"] == {"x": {"a": "un"}}
    assert translations["de"] == {}  # a broken file is left out, the server keeps serving


def test_plugins_example_workflows_are_listed_and_served(server):
    assert call_json(server.url + "/workflow_templates")[1] == {"pack_a": ["demo", "demo-workflows"]}
    status, workflow = call_json(server.url + "/api/workflow_templates/pack_a/demo-workflows.json")
    assert status == 200 and workflow["from"] == "workflows"
    for missing in ("/workflow_templates/pack_a/other.json", "/workflow_templates/pack_b/demo.json",
                    "/workflow_templates/pack_a/..%2F__init__.py"):
        assert call_json(server.url + missing)[0] == 404, missing
    assert call_json(server.url + "/global_subgraphs")[1] == {}
    assert call_json(server.url + "/api/node_replacements")[1] == {}


def test_the_template_packages_files_are_served_inside_their_folder(server):
    status, index = call_json(server.url + "/templates/index.json")
    assert status == 200 and isinstance(index, list) and index[0]["templates"]
    assert call(server.url + "/templates/..%2F..%2F..%2Fetc%2Fpasswd")[0] == 403
    assert call(server.url + "/templates/no_such_template.json")[0] == 404
    assert installed_template_folders(("latentloom_no_such_templates_package",)) == []  # absent: the route 404s


def test_the_model_browser_lists_folders_and_files(server):
    status, folders = call_json(server.url + "/experiment/models")
    by_name = {entry["name"]: entry["folders"] for entry in folders}
    assert status == 200 and by_name["loras"] == ["models/loras"] and "configs" not in by_name
    assert by_name["diffusion_models"] == ["models/diffusion_models", "models/unet"]  # searched together
    assert str(server.base_dir) not in json.dumps(folders)
    status, files = call_json(server.url + "/api/experiment/models/loras")
    tiny = next(entry for entry in files if entry["name"] == "styles/tiny.safetensors")
    assert status == 200 and {entry["name"] for entry in files} == {"styles/tiny.safetensors", "plain.safetensors"}
    assert tiny["pathIndex"] == 0 and tiny["size"] == (server.base_dir / "models/loras/styles/tiny.safetensors").stat().st_size
    assert tiny["modified"] > 0 and tiny["created"] > 0
    assert call_json(server.url + "/experiment/models/no_such_folder")[0] == 404


def test_a_model_preview_is_its_picture_as_webp(server):
    preview = server.url + "/experiment/models/preview/loras"
    status, headers, body = call(preview + "/0/styles/tiny.safetensors")
    assert status == 200 and headers["Content-Type"] == "image/webp"
    assert picture(body).format == "WEBP" and picture(body).size == (6, 4)
    assert call(preview + "/0/plain.safetensors")[0] == 404  # no picture beside it
    assert call(preview + "/1/styles/tiny.safetensors")[0] == 404  # loras has one root
    assert call(preview + "/x/styles/tiny.safetensors")[0] == 400
    assert call(preview + "/0/..%2F..%2Finput%2Fmasked.png")[0] == 403


def test_view_metadata_is_the_safetensors_metadata(server):
    url = server.url + "/view_metadata/loras?filename="
    assert call_json(url + "styles/tiny.safetensors") == (200, METADATA)
    assert call_json(url + "plain.safetensors")[0] == 404  # no __metadata__
    assert call_json(url + "nothing.safetensors")[0] == 404
    assert call_json(url + "../checkpoints/x.safetensors")[0] == 403
    assert call_json(server.url + "/view_metadata/no_such_folder?filename=a.safetensors")[0] == 404
    assert call_json(server.url + "/view_metadata/loras")[0] == 400


def test_view_sends_one_channel_or_a_lighter_preview(server):
    view = server.url + "/view?type=input&filename="
    status, headers, body = call(view + "masked.png&channel=a")
    alpha = picture(body)
    assert status == 200 and headers["Content-Type"] == "image/png" and alpha.mode == "RGBA"
    assert alpha.getpixel((0, 0)) == (0, 0, 0, 0) and alpha.getpixel((1, 0)) == (0, 0, 0, 255)
    assert picture(call(view + "masked.png&channel=rgb")[2]).getpixel((0, 0)) == (10, 20, 30)
    status, headers, body = call(view + "masked.png&preview=webp;50")
    assert headers["Content-Type"] == "image/webp" and picture(body).format == "WEBP"
    status, headers, body = call(view + "masked.png&preview=jpeg;80&channel=rgb")
    assert headers["Content-Type"] == "image/jpeg" and picture(body).format == "JPEG"
    for bad in ("masked.png&channel=red", "masked.png&preview=png", "masked.png&preview=webp;0",
                "notes.png&channel=a"):
        status, answer = call_json(view + bad)
        assert status == 400 and answer["error"]["message"], bad


def test_internal_routes_have_no_api_twin_and_unknown_routes_answer_as_comfyui(server):
    status, paths = call_json(server.url + "/internal/folder_paths")
    assert status == 200 and paths["loras"] == ["models/loras"] and "configs" in paths
    for path in ("/api/internal/folder_paths", "/api/no/such/route", "/no_such_route"):
        status, headers, body = call(server.url + path)
        assert (status, body) == (404, b"404: Not Found") and headers["Content-Type"].startswith("text/plain")
    for body, word in (({"enabled": "yes", "clientId": "a"}, "'enabled' must be bool"), ({"enabled": True}, "clientId")):
        status, answer = call_json(server.url + "/internal/logs/subscribe", "PATCH", body)
        assert status == 400 and word in answer["error"]["message"]


async def _log_message_after_subscribing(server) -> dict:
    """Subscribe a websocket client, make the server log a warning (a broken translation file), return the
    "logs" message that carries it."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(server.url.replace("http", "ws", 1) + "/ws?clientId=logreader") as socket:
            await socket.receive(timeout=10)  # status
            async with session.patch(server.url + "/internal/logs/subscribe",
                                     json={"enabled": True, "clientId": "logreader"}) as answer:
                assert answer.status == 200
            async with session.get(server.url + "/i18n") as answer:
                assert answer.status == 200
            while True:
                message = json.loads((await socket.receive(timeout=10)).data)
                if message["type"] == "logs" and "cannot be read" in json.dumps(message):
                    return message["data"]


def test_the_log_reaches_subscribed_clients_and_the_log_routes(server):
    data = run_async(_log_message_after_subscribing(server))
    assert set(data) == {"entries", "size"} and set(data["size"]) == {"cols", "rows"}
    line = next(entry["m"] for entry in data["entries"] if "cannot be read" in entry["m"])
    assert "custom_nodes/pack_b/locales/de/main.json" in line and str(server.base_dir) not in line  # redacted
    status, raw = call_json(server.url + "/internal/logs/raw")
    assert status == 200 and all(set(entry) == {"t", "m"} for entry in raw["entries"])
    assert any("serving on" in entry["m"] for entry in raw["entries"])
    status, text = call_json(server.url + "/internal/logs")
    assert status == 200 and isinstance(text, str) and " - serving on" in text


def test_internal_files_lists_a_folders_files_newest_first(server):
    inputs = server.base_dir / "input"
    (inputs / "album").mkdir(exist_ok=True)
    for age, name in enumerate(("newest.png", "older.png", "oldest.png")):
        (inputs / name).write_bytes(b"x")
        os.utime(inputs / name, (time.time() + 3600 - age * 60,) * 2)  # newer than the fixture's files
    with partial_file(inputs, SAVING, ".png.tmp"):  # a file still being written is not listed
        status, names = call_json(server.url + "/internal/files/input")
    assert status == 200 and names[:3] == ["newest.png", "older.png", "oldest.png"]
    assert set(names) == {path.name for path in inputs.iterdir() if path.is_file()} - {"album"}
    assert not any(is_partial_name(name) for name in names)
    assert call_json(server.url + "/internal/files/temp") == (200, [])
    status, answer = call_json(server.url + "/internal/files/models")
    assert status == 400 and "input, output, temp" in answer["error"]["message"]
    assert call(server.url + "/api/internal/files/input")[0] == 404  # /internal has no /api twin, as in ComfyUI
