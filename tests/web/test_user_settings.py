"""/users and /settings through a real server, in the shapes ComfyUI's frontend reads: one user, settings kept in
user/default/comfy.settings.json across restarts, bad bodies refused, an unreadable file kept aside, not lost."""
from __future__ import annotations

import json

from tests.web.client import call, call_json


def test_one_user_with_server_storage_and_no_login_screen(live_server):
    for prefix in ("", "/api"):
        assert call_json(f"{live_server.url}{prefix}/users") == (200, {"storage": "server", "migrated": True})
    status, answer = call_json(live_server.url + "/users", "POST", {"username": "someone"})
    assert status == 400 and "single user" in answer["error"]["message"]


def test_settings_are_merged_read_one_by_one_and_kept_across_a_restart(own_server, tmp_path):
    server = own_server()
    assert call_json(server.url + "/settings") == (200, {})
    assert call_json(server.url + "/settings/Comfy.Locale") == (200, None)

    assert call(server.url + "/api/settings", "POST", {"Comfy.Locale": "en", "Comfy.Sidebar.Size": 3})[0] == 200
    assert call(server.url + "/settings", "POST", {"Comfy.Sidebar.Size": 4})[0] == 200  # merged, not replaced
    assert call(server.url + "/settings/Comfy.Workflow.Order", "POST", ["a.json", "b.json"])[0] == 200
    assert call(server.url + "/settings/Comfy.TutorialCompleted", "POST", raw=b"true")[0] == 200
    expected = {"Comfy.Locale": "en", "Comfy.Sidebar.Size": 4, "Comfy.Workflow.Order": ["a.json", "b.json"],
                "Comfy.TutorialCompleted": True}
    assert call_json(server.url + "/settings") == (200, expected)
    assert call_json(server.url + "/api/settings/Comfy.Workflow.Order") == (200, ["a.json", "b.json"])
    stored = tmp_path / "user" / "default" / "comfy.settings.json"
    assert json.loads(stored.read_text()) == expected

    server.stop()
    again = own_server()
    assert call_json(again.url + "/settings") == (200, expected)


def test_bodies_that_are_not_settings_are_refused_and_change_nothing(own_server):
    server = own_server()
    assert call(server.url + "/settings", "POST", {"Comfy.Locale": "fr"})[0] == 200
    for raw in (b"[1, 2]", b'"text"', b"{not json", b"[" * 1000 + b"]" * 1000):
        status, answer = call_json(server.url + "/settings", "POST", raw=raw)
        assert status == 400 and answer["error"]["type"] == "invalid_json", raw[:20]
    status, answer = call_json(server.url + "/settings/Comfy.Locale", "POST", raw=b"{broken")
    assert status == 400 and "not valid JSON" in answer["error"]["message"]
    assert call_json(server.url + "/settings") == (200, {"Comfy.Locale": "fr"})


def test_an_unreadable_settings_file_is_kept_aside_named_in_the_log_and_the_settings_start_empty(own_server,
                                                                                                  tmp_path):
    folder = tmp_path / "user" / "default"
    folder.mkdir(parents=True)
    (folder / "comfy.settings.json").write_text('{"Comfy.Locale": "en", "cut short')
    server = own_server()
    assert call_json(server.url + "/settings") == (200, {})
    [kept] = folder.glob("comfy.settings.json.unreadable-*")
    assert kept.read_text() == '{"Comfy.Locale": "en", "cut short'
    assert "could not be read" in server.log() and kept.name in server.log()
    assert call(server.url + "/settings", "POST", {"Comfy.Locale": "de"})[0] == 200
    assert json.loads((folder / "comfy.settings.json").read_text()) == {"Comfy.Locale": "de"}
    assert kept.exists()
