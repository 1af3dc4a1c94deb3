"""ComfyUI-style plugin packs from a folder, loaded by the real plugin loader into a real server: their graphs run
through POST /prompt, their messages and progress reach the websocket, their route and script are served, and the
pack that fails to import is reported while the others work."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.web.client import call, call_json, listen, wait_for_history
from tests.web.conftest import start_server

PACKS = Path(__file__).resolve().parents[1] / "fixtures" / "comfy_plugin_packs"


@pytest.fixture(scope="module")
def plugin_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("comfy_plugins")
    (base / "models" / "checkpoints").mkdir(parents=True)
    (base / "models" / "checkpoints" / "tiny.safetensors").write_bytes(b"x" * 10)
    (base / "input").mkdir()
    (base / "input" / "note.txt").write_text("first\n")
    server = start_server(base, "--extra-custom-nodes", str(PACKS))
    yield server
    server.stop()


def run(server, prompt: dict, **extra) -> tuple[dict, list, dict]:
    """Queue `prompt`, collect its websocket messages, return (answer, messages, history entry)."""
    answer, messages = listen(server.url, {"prompt": prompt, **extra}, uuid.uuid4().hex)
    assert answer.get("node_errors") == {}, answer
    return answer, messages, wait_for_history(server.url, answer["prompt_id"])


def ui_of(entry: dict, node: str) -> dict:
    assert entry["status"]["status_str"] == "success", entry["status"]
    return entry["outputs"][node]


def test_the_failing_pack_is_reported_and_the_others_load(plugin_server):
    log = plugin_server.log()
    assert "plugin ll_comfy_broken failed to load" in log
    assert "this pack needs comfy.ldm.flux, which Latentloom does not offer yet" in log
    status, info = call_json(f"{plugin_server.url}/object_info")
    assert status == 200
    ours = {name for name in info if name.startswith("LLComfy")}
    assert ours == {"LLComfySplitWords", "LLComfyShout", "LLComfyJoinWords", "LLComfyPickLazy", "LLComfyExplode",
                    "LLComfyReadTextFile", "LLComfyShowText", "LLComfySaveLines", "LLComfyDescribeModel",
                    "LLComfyAnnounce", "LLComfyForLoopOpen", "LLComfyForLoopClose", "LLComfyAddInts", "LLComfyShowInt"}
    required = info["LLComfyDescribeModel"]["input"]["required"]
    assert required["ckpt_name"][0] == ["tiny.safetensors"]  # folder_paths.get_filename_list
    assert "euler" in required["sampler_name"][0] and "karras" in required["scheduler"][0]
    assert info["LLComfySplitWords"]["output_is_list"] == [True]


def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def test_object_info_names_packs_as_comfyui_does_and_no_server_path(plugin_server):
    """python_module is `custom_nodes.<pack>` for plugins and `nodes` for built-ins (ComfyUI's core value, so
    ComfyUI's frontend groups them as core nodes); no path on the server's disk appears anywhere."""
    status, info = call_json(f"{plugin_server.url}/object_info")
    assert status == 200
    assert info["LLComfySplitWords"]["python_module"] == "custom_nodes.ll_comfy_basics"
    assert info["LLComfySaveLines"]["python_module"] == "custom_nodes.ll_comfy_files"
    assert info["LLComfyAnnounce"]["python_module"] == "custom_nodes.ll_comfy_messages"
    assert {info[name]["python_module"] for name in ("KSampler", "SaveImage", "MathInt")} == {"nodes"}
    assert info["PreviewAny"]["python_module"] == "comfy_extras.nodes_preview_any"  # where ComfyUI keeps it
    assert all(entry["python_module"] == "nodes" or entry["python_module"].startswith(("custom_nodes.", "comfy_extras."))
               for entry in info.values())
    assert call_json(f"{plugin_server.url}/object_info/LLComfyShout")[1]["LLComfyShout"]["python_module"] == \
        "custom_nodes.ll_comfy_basics"
    places = [str(PACKS), str(plugin_server.base_dir), str(Path(__file__).resolve().parents[2])]
    leaks = [text for text in strings_in(info) if any(place in text for place in places)]
    assert leaks == []


def test_a_single_file_plugin_is_named_by_its_file(live_server):
    status, info = call_json(f"{live_server.url}/api/object_info")
    assert status == 200 and info["TestSleep"]["python_module"] == "custom_nodes.latentloom_test_nodes"
    assert str(live_server.base_dir) not in str(info)


def test_list_outputs_list_inputs_hidden_inputs_and_ui(plugin_server):
    prompt = {"1": {"class_type": "LLComfySplitWords", "inputs": {"text": "red green blue"}},
              "2": {"class_type": "LLComfyShout", "inputs": {"word": ["1", 0]}},
              "3": {"class_type": "LLComfyJoinWords", "inputs": {"words": ["2", 0], "separator": "+"}},
              "4": {"class_type": "LLComfyShowText", "inputs": {"text": ["3", 0]}}}
    workflow = {"title": "joined"}
    _, messages, entry = run(plugin_server, prompt, extra_data={"extra_pnginfo": {"workflow": workflow}})
    assert ui_of(entry, "4") == {"text": ["RED+GREEN+BLUE"], "node": ["4"], "classes": ["LLComfyShowText"],
                                 "title": ["joined"]}
    executed = [data for kind, data in messages if kind == "executed"]
    assert executed[-1]["output"]["text"] == ["RED+GREEN+BLUE"]


def test_lazy_inputs_only_evaluate_what_check_lazy_status_asks_for(plugin_server):
    prompt = {"1": {"class_type": "LLComfyReadTextFile", "inputs": {"name": "note.txt", "repeat": 2}},
              "2": {"class_type": "LLComfyExplode", "inputs": {"message": "the unused branch ran"}},
              "3": {"class_type": "LLComfyPickLazy", "inputs": {"use_first": True, "first": ["1", 0],
                                                                "second": ["2", 0]}},
              "4": {"class_type": "LLComfyShowText", "inputs": {"text": ["3", 0]}}}
    _, messages, entry = run(plugin_server, prompt)
    assert ui_of(entry, "4")["text"] == ["firstfirst"]
    ran = {data["node"] for kind, data in messages if kind == "executing" and data["node"] is not None}
    assert "2" not in ran


def test_is_changed_reruns_only_when_the_file_changes_and_validate_inputs_refuses(plugin_server):
    note = plugin_server.base_dir / "input" / "changing.txt"
    note.write_text("one")
    prompt = {"1": {"class_type": "LLComfyReadTextFile", "inputs": {"name": "changing.txt [input]", "repeat": 1}},
              "2": {"class_type": "LLComfyShowText", "inputs": {"text": ["1", 0]}}}
    assert ui_of(run(plugin_server, prompt)[2], "2")["text"] == ["one"]
    _, messages, _ = run(plugin_server, prompt)
    cached = next(data["nodes"] for kind, data in messages if kind == "execution_cached")
    assert "1" in cached
    note.write_text("two")
    assert ui_of(run(plugin_server, prompt)[2], "2")["text"] == ["two"]

    missing = {"1": {"class_type": "LLComfyReadTextFile", "inputs": {"name": "absent.txt", "repeat": 1}},
               "2": {"class_type": "LLComfyShowText", "inputs": {"text": ["1", 0]}}}
    status, answer = call_json(f"{plugin_server.url}/prompt", "POST", {"prompt": missing})
    assert status == 400
    (error,) = answer["node_errors"]["1"]["errors"]
    assert error["type"] == "custom_validation_failed" and "Invalid text file: absent.txt" in error["details"]


def test_a_for_loop_pack_expands_its_turns_with_comfyui_s_ids(plugin_server):
    """value <- value + index for index 0..2, from 5: 5, 6, 8; each turn's copy shown on the node it copies."""
    prompt = {"1": {"class_type": "LLComfyForLoopOpen", "inputs": {"total": 3, "value": 5}},
              "2": {"class_type": "LLComfyAddInts", "inputs": {"a": ["1", 2], "b": ["1", 1]}},
              "3": {"class_type": "LLComfyForLoopClose", "inputs": {"flow": ["1", 0], "value": ["2", 0]}},
              "4": {"class_type": "LLComfyShowInt", "inputs": {"value": ["3", 0]}}}
    _, messages, entry = run(plugin_server, prompt)
    assert ui_of(entry, "4") == {"value": [5 + 0 + 1 + 2]}
    executing = {data["node"]: data["display_node"] for kind, data in messages
                 if kind == "executing" and data["node"] is not None}
    assert executing["3.0.0.Recurse"] == "3" and executing["3.0.0.Recurse.0.0.Recurse"] == "3"
    assert executing["3.0.0.2"] == "2"


def test_folder_paths_and_progress_bar_save_a_file_with_progress_messages(plugin_server):
    prompt = {"1": {"class_type": "LLComfySaveLines", "inputs": {"text": "a\nb\nc", "filename_prefix": "notes/x"}},
              "2": {"class_type": "LLComfyDescribeModel", "inputs": {"ckpt_name": "tiny.safetensors",
                                                                     "sampler_name": "euler",
                                                                     "scheduler": "karras"}},
              "3": {"class_type": "LLComfyShowText", "inputs": {"text": ["2", 0]}}}
    answer, messages, entry = run(plugin_server, prompt)
    (saved,) = ui_of(entry, "1")["texts"]
    assert saved == {"filename": "x_00001_.txt", "subfolder": "notes", "type": "output"}
    assert (plugin_server.base_dir / "output" / "notes" / "x_00001_.txt").read_text() == "a\nb\nc\n"
    steps = [(data["value"], data["max"]) for kind, data in messages if kind == "progress" and data["node"] == "1"]
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert ui_of(entry, "3")["text"] == ["tiny.safetensors:10:euler:karras"]


def test_send_sync_reaches_the_client_that_queued_the_prompt(plugin_server):
    prompt = {"1": {"class_type": "LLComfyAnnounce", "inputs": {"text": "hi there"}}}
    answer, messages, entry = run(plugin_server, prompt)
    assert entry["status"]["status_str"] == "success"
    announced = [data for kind, data in messages if kind == "ll_comfy_messages.announce"]
    assert announced == [{"text": "hi there", "node": "1", "prompt_id": answer["prompt_id"]}]
    kinds = [kind for kind, _ in messages]
    assert kinds.index("ll_comfy_messages.announce") < kinds.index("execution_success")


def test_a_plugin_route_answers_at_the_root_and_under_api(plugin_server):
    for path in ("/ll_comfy_messages/ping", "/api/ll_comfy_messages/ping"):
        assert call_json(f"{plugin_server.url}{path}?say=ok") == (200, {"pong": "ok"})


def test_the_plugin_script_is_listed_and_served(plugin_server):
    status, scripts = call_json(f"{plugin_server.url}/extensions")
    assert status == 200 and "/extensions/ll_comfy_messages/announce.js" in scripts
    status, headers, body = call(f"{plugin_server.url}/extensions/ll_comfy_messages/announce.js")
    assert status == 200 and "javascript" in headers["Content-Type"]
    assert body == (PACKS / "ll_comfy_messages" / "js" / "announce.js").read_bytes()
