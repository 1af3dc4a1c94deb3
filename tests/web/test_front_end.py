"""Another web app at / (`--front-end-root`, `--front-end comfyui`) through a real server: its files after every
route of ours, the canvas at /loom/, its extensions listed with ours, our guards in front of it, and a first visit
that opens our default workflow; a missing front end stops the start with advice."""
from __future__ import annotations

import argparse
import json
import sys

import pytest

from latentloom.serving import add_serve_arguments, front_end_root
from tests.web.client import call, call_json
from web.front_end import FIRST_VISIT_SETTINGS, comfyui_front_end_root, seed_first_visit_settings
from web.user_settings import settings_path

TOKEN = "front-end-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def app_folder(tmp_path_factory):
    """A small built web app: its page, an asset, one of its own extensions, a file named like an API route, and a
    link that points out of the folder."""
    root = tmp_path_factory.mktemp("front_end")
    (root / "index.html").write_text("<!doctype html><title>the other app</title>")
    (root / "assets").mkdir()
    (root / "assets" / "app.js").write_text("console.log('app')")
    (root / "extensions" / "core").mkdir(parents=True)
    (root / "extensions" / "core" / "widgets.js").write_text("export {}")
    (root / "prompt").write_text("a file that must not shadow GET /prompt")
    secret = tmp_path_factory.mktemp("outside") / "secret.txt"
    secret.write_text("not for the web")
    (root / "assets" / "escape.txt").symlink_to(secret)
    return root


@pytest.fixture(scope="module")
def server(app_folder, tmp_path_factory):
    from tests.web.conftest import prepare_base, start_server

    started = start_server(prepare_base(tmp_path_factory.mktemp("base")), "--front-end-root", str(app_folder),
                           "--auth-token", TOKEN, headers=AUTH)
    yield started
    started.stop()


def get(server, path: str, **kwargs):
    return call(server.url + path, headers={**AUTH, **kwargs.pop("headers", {})}, **kwargs)


def test_the_app_is_at_the_root_and_the_canvas_at_loom(server):
    status, headers, page = get(server, "/")
    assert status == 200 and b"the other app" in page and headers["Cache-Control"] == "no-cache"
    assert get(server, "/assets/app.js")[2] == b"console.log('app')"
    status, headers, canvas = get(server, "/loom/")
    assert status == 200 and b"/static/main.js" in canvas
    assert "script-src 'self'" in headers["Content-Security-Policy"]  # the canvas keeps its own policy
    assert get(server, "/static/main.js")[0] == 200
    status, headers, _ = call(server.url + "/loom", headers=AUTH)  # urllib follows the redirect to /loom/
    assert status == 200 and headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_routes_of_ours_come_before_the_apps_files(server):
    status, queue = call_json(server.url + "/prompt", headers=AUTH)
    assert status == 200 and queue == {"exec_info": {"queue_remaining": 0}}
    assert call_json(server.url + "/api/object_info/KSampler", headers=AUTH)[1]["KSampler"]["python_module"] == "nodes"
    for unknown in ("/no/such/file.js", "/api/no_such_route"):
        assert get(server, unknown)[:3:2] == (404, b"404: Not Found")  # plain, as ComfyUI's


def test_its_extensions_are_served_and_listed_with_ours(server):
    assert get(server, "/extensions/core/widgets.js")[2] == b"export {}"
    status, _, script = get(server, "/extensions/latentloom/default_workflow.js")
    assert status == 200 and b"registerExtension" in script and b"/workflow/convert" in script
    status, listed = call_json(server.url + "/api/extensions", headers=AUTH)
    assert status == 200
    assert listed[:2] == ["/extensions/core/widgets.js", "/extensions/latentloom/default_workflow.js"]
    assert get(server, "/extensions/nothing/here.js")[0] == 404


def test_our_guards_stand_in_front_of_it(server):
    assert call(server.url + "/")[0] == 401
    assert call(server.url + "/assets/app.js")[0] == 401
    assert get(server, "/", headers={"Host": "attacker.example:80"})[0] == 403
    assert get(server, "/assets/escape.txt")[0] == 403  # a link out of the folder
    for escape in ("/assets/%2e%2e/%2e%2e/etc/passwd", "/%2e%2e/outside/secret.txt", "/assets/..%2f..%2fprompt"):
        status, _, body = get(server, escape)
        assert status in (403, 404) and b"not for the web" not in body and b"root:" not in body


def test_a_first_visit_opens_our_workflow_and_later_settings_stay(server, tmp_path):
    assert call_json(server.url + "/settings", headers=AUTH) == (200, FIRST_VISIT_SETTINGS)
    # a user the frontend knows already keeps every setting, the tutorial one included
    user = tmp_path / "user"
    settings_path(user).parent.mkdir(parents=True)
    settings_path(user).write_text(json.dumps({"Comfy.TutorialCompleted": False, "Comfy.Locale": "fr"}))
    seed_first_visit_settings(user)
    assert json.loads(settings_path(user).read_text()) == {"Comfy.TutorialCompleted": False, "Comfy.Locale": "fr"}


def test_a_missing_front_end_stops_the_start_with_advice(tmp_path, monkeypatch):
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    empty = tmp_path / "not_an_app"
    empty.mkdir()
    with pytest.raises(SystemExit, match=r"^error: the front-end folder .* has no index.html"):
        front_end_root(parser.parse_args(["--front-end-root", str(empty)]))
    assert front_end_root(parser.parse_args([])) is None
    monkeypatch.setitem(sys.modules, "comfyui_frontend_package", None)  # as on a machine without the package
    with pytest.raises(SystemExit, match=r"^error: --front-end comfyui needs .*latentloom\[comfyui-frontend\]"):
        front_end_root(parser.parse_args(["--front-end", "comfyui"]))


def test_the_installed_comfyui_package_is_found():
    pytest.importorskip("comfyui_frontend_package", reason="the test extra installs comfyui-frontend-package")
    root = comfyui_front_end_root()
    assert (root / "index.html").is_file() and (root / "scripts" / "app.js").is_file()
