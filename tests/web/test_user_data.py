"""/userdata and /v2/userdata through a real server, as ComfyUI's frontend saves, lists, opens, renames and deletes
workflows: statuses and shapes as ComfyUI's, and nothing outside user/default/ reachable by any name."""
from __future__ import annotations

import json
import urllib.parse

from tests.web.client import call, call_json

WORKFLOW = {"last_node_id": 0, "nodes": [], "links": [], "version": 0.4}


def encoded(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def test_a_workflow_is_saved_listed_read_renamed_and_deleted(own_server, tmp_path):
    server = own_server()
    url = server.url + "/api/userdata/"
    raw = json.dumps(WORKFLOW).encode()
    assert call_json(url + encoded("workflows/portrait.json") + "?overwrite=false", "POST", raw=raw) == (
        200, "workflows/portrait.json")
    stored = tmp_path / "user" / "default" / "workflows" / "portrait.json"
    assert stored.read_bytes() == raw

    status, answer = call_json(url + encoded("workflows/portrait.json") + "?overwrite=false", "POST", raw=b"{}")
    assert status == 409 and "already exists" in answer["error"]["message"]
    status, info = call_json(url + encoded("workflows/portrait.json") + "?full_info=true", "POST", raw=raw)
    assert status == 200 and info["path"] == "workflows/portrait.json" and info["size"] == len(raw)
    assert info["modified"] == int(stored.stat().st_mtime * 1000)  # milliseconds, as ComfyUI's
    assert stored.read_bytes() == raw

    assert call_json(url + encoded("workflows/sub/older.json"), "POST", raw=b"{}")[0] == 200
    listing = server.url + "/userdata?dir=workflows"
    assert call_json(listing) == (200, ["portrait.json"])
    assert call_json(listing + "&recurse=true") == (200, ["portrait.json", "sub/older.json"])
    assert call_json(listing + "&recurse=true&split=true") == (
        200, [["portrait.json", "portrait.json"], ["sub/older.json", "sub", "older.json"]])
    [first, second] = call_json(listing + "&recurse=true&full_info=true")[1]
    assert first["path"] == "portrait.json" and second == {**second, "path": "sub/older.json", "size": 2}

    status, headers, body = call(url + encoded("workflows/portrait.json"))
    assert status == 200 and json.loads(body) == WORKFLOW
    assert headers["Content-Type"].startswith("application/json") and headers["Content-Disposition"] == "attachment"

    moved = url + encoded("workflows/portrait.json") + "/move/" + encoded("workflows/portrait 2.json")
    assert call_json(moved)[0] == 405  # a move is a POST
    assert call_json(moved, "POST") == (200, "workflows/portrait 2.json")
    assert not stored.exists() and (stored.parent / "portrait 2.json").read_bytes() == raw
    back = url + encoded("workflows/portrait 2.json") + "/move/" + encoded("workflows/sub/older.json")
    assert call_json(back + "?overwrite=false", "POST")[0] == 409

    assert call(url + encoded("workflows/portrait 2.json"), "DELETE")[0] == 204
    assert call_json(url + encoded("workflows/portrait 2.json"), "DELETE")[0] == 404
    assert call_json(url + encoded("workflows/portrait 2.json"))[0] == 404


def test_the_v2_listing_gives_folders_first_then_files_with_paths_from_the_user_folder(own_server, tmp_path):
    server = own_server()
    assert call_json(server.url + "/v2/userdata") == (200, [])  # a new user
    root = tmp_path / "user" / "default"
    (root / "workflows" / "b").mkdir(parents=True)
    (root / "workflows" / "Zebra.json").write_text("{}")
    (root / "workflows" / "apple.json").write_text("{}")
    (root / "workflows" / "b" / "inner.json").write_text("{}")
    (root / "workflows" / ".upload-abcdefgh.json.tmp").write_text("{")  # a writer's unfinished file
    status, entries = call_json(server.url + "/v2/userdata?path=workflows")
    assert status == 200
    assert [(e["type"], e["path"]) for e in entries] == [
        ("directory", "workflows/b"), ("file", "workflows/apple.json"), ("file", "workflows/b/inner.json"),
        ("file", "workflows/Zebra.json")]
    assert entries[1]["size"] == 2 and isinstance(entries[1]["modified"], float)
    whole = call_json(server.url + "/api/v2/userdata")[1]  # the whole folder, sorted by name as ComfyUI does
    assert [(e["type"], e["path"]) for e in whole][:2] == [("directory", "workflows/b"), ("directory", "workflows")]
    assert call_json(server.url + "/v2/userdata?path=missing")[0] == 404
    assert call_json(server.url + "/v2/userdata?path=workflows%2Fapple.json")[0] == 400
    assert call_json(server.url + "/userdata?dir=missing")[0] == 404
    assert call_json(server.url + "/userdata")[0] == 400


def test_no_name_reaches_outside_the_users_folder(own_server, tmp_path):
    server = own_server()
    (tmp_path / "secret.txt").write_text("not for the browser")
    root = tmp_path / "user" / "default"
    root.mkdir(parents=True, exist_ok=True)
    (root / "escape").symlink_to(tmp_path)
    names = ["../latentloom.db", "..%2Flatentloom.db", "../../secret.txt", "/etc/passwd", "escape/secret.txt",
             "workflows/../../latentloom.db"]
    for name in names:
        for method, suffix, raw in (("GET", "", None), ("POST", "", b"x"), ("DELETE", "", None),
                                    ("POST", "/move/" + encoded("stolen.txt"), None)):
            status, answer = call_json(server.url + "/userdata/" + encoded(name) + suffix, method, raw=raw)
            assert status == 403 and "the user data folder" in answer["error"]["message"], (name, method)
        assert call_json(server.url + "/userdata?dir=" + encoded(name))[0] == 403
        assert call_json(server.url + "/v2/userdata?path=" + encoded(name))[0] == 403
    assert (tmp_path / "secret.txt").read_text() == "not for the browser"
    assert (tmp_path / "user" / "latentloom.db").exists()
    assert not (root / "stolen.txt").exists()


def test_a_body_over_the_limit_is_refused_naming_it_and_nothing_is_written(own_server, tmp_path):
    server = own_server()
    status, answer = call_json(server.url + "/userdata/" + encoded("workflows/huge.json"), "POST",
                               raw=b" " * (16 * 1024 * 1024 + 1))
    assert status == 413 and "limit" in answer["error"]["message"]
    assert not (tmp_path / "user" / "default" / "workflows" / "huge.json").exists()
