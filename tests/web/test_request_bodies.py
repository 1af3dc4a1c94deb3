"""JSON bodies are read whole however they arrive (in small pieces with pauses, in two writes, chunked), up to the
16 MiB limit; a larger one gets 413 naming the limit, whether it declares its length or not, before the server has
read much past the limit. Sent over raw sockets to a real server, as slow or unlucky clients send them."""
from __future__ import annotations

import json
import socket
import time
import uuid

import pytest

from tests.web.client import call_json, wait_for_history
from web.services import ServerSettings

LIMIT = ServerSettings().max_json_bytes
PLUGIN_LIMIT = ServerSettings().max_upload_bytes + (1 << 20)  # aiohttp's client_max_size, set in web/app.py

# A ComfyUI-style plugin route that reads its body the way plugins do (aiohttp's request.json()).
BODY_PLUGIN = '''
from aiohttp import web
from server import PromptServer


@PromptServer.instance.routes.post("/body_plugin/count")
async def count(request):
    return web.json_response({"items": len((await request.json())["items"])})


NODE_CLASS_MAPPINGS = {}
'''


def _connect(server) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each write leaves as its own segment
    return connection


def _head(server, path: str, framing: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {server.host}\r\nContent-Type: application/json\r\n{framing}"
            "Connection: close\r\n\r\n").encode()


def _answer(connection: socket.socket) -> tuple[int, dict]:
    """The status and JSON body of the server's answer, read as soon as it is complete (the server may still be
    draining what the client sent)."""
    received = bytearray()
    while b"\r\n\r\n" not in received:
        received += _receive(connection)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        body += _receive(connection)
    return int(lines[0].split(" ", 2)[1]), json.loads(body[:length])


def _receive(connection: socket.socket) -> bytes:
    chunk = connection.recv(1 << 16)
    if not chunk:
        raise AssertionError("the server closed the connection before its answer was complete")
    return chunk


def post_in_pieces(server, path: str, body: bytes, piece: int, pause: float, chunked: bool = False) -> tuple[int, dict]:
    """POST `body` in writes of `piece` bytes with `pause` seconds between them (HTTP chunks when `chunked`)."""
    framing = "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {len(body)}\r\n"
    with _connect(server) as connection:
        connection.sendall(_head(server, path, framing))
        for start in range(0, len(body), piece):
            part = body[start:start + piece]
            connection.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            time.sleep(pause)
        if chunked:
            connection.sendall(b"0\r\n\r\n")
        return _answer(connection)


def prompt_with_workflow(size: int, value: int) -> tuple[bytes, str]:
    """A cheap prompt whose extra_data carries an editor workflow of about `size` bytes, as the canvas sends it."""
    workflow = {"nodes": [{"id": i, "type": "Note", "widgets_values": ["x" * 90]} for i in range(size // 150)]}
    body = {"prompt": {"1": {"class_type": "PrimitiveInt", "inputs": {"value": value}},
                       "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}},
            "extra_data": {"extra_pnginfo": {"workflow": workflow}}, "prompt_id": str(uuid.uuid4())}
    return json.dumps(body).encode(), body["prompt_id"]


def assert_queued_whole(server, answer: tuple[int, dict], prompt_id: str, size: int, value: int) -> None:
    status, reply = answer
    assert status == 200, reply
    entry = wait_for_history(server.url, prompt_id)
    assert entry["outputs"]["2"]["text"] == [str(value)]
    workflow = entry["prompt"][3]["extra_pnginfo"]["workflow"]
    assert len(workflow["nodes"]) == size // 150  # the whole body arrived, not what had come by the first read


@pytest.mark.parametrize("size,piece,pause,chunked", [
    (1 << 20, 8 << 10, 0.002, False),  # 1 MiB in 8 KiB writes
    (10 << 20, 64 << 10, 0.001, False),  # 10 MiB in 64 KiB writes
    (1 << 20, 8 << 10, 0.002, True),  # 1 MiB in 8 KiB HTTP chunks, no length declared
])
def test_large_bodies_sent_slowly_are_read_whole(live_server, size, piece, pause, chunked):
    body, prompt_id = prompt_with_workflow(size, size)
    answer = post_in_pieces(live_server, "/prompt", body, piece, pause, chunked)
    assert_queued_whole(live_server, answer, prompt_id, size, size)


def test_a_small_body_in_two_writes_is_read_whole(live_server):
    body, prompt_id = prompt_with_workflow(300, 7)
    with _connect(live_server) as connection:
        connection.sendall(_head(live_server, "/prompt", f"Content-Length: {len(body)}\r\n") + body[:70])
        time.sleep(0.02)  # the second half comes 20 ms later, as over a slow link
        connection.sendall(body[70:])
        answer = _answer(connection)
    assert_queued_whole(live_server, answer, prompt_id, 300, 7)


def test_every_json_route_reads_a_body_sent_in_pieces(live_server):
    converted = post_in_pieces(live_server, "/workflow/convert", json.dumps(
        {"to": "ui", "workflow": {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}}},
         "padding": "x" * 300_000}).encode(), 4096, 0.001)
    assert converted[0] == 200 and converted[1]["workflow"]["nodes"][0]["type"] == "PrimitiveInt"
    unknown = str(uuid.uuid4())
    for path in ("/queue", "/history"):
        body = json.dumps({"delete": [unknown], "padding": "x" * 300_000}).encode()
        with _connect(live_server) as connection:
            connection.sendall(_head(live_server, path, f"Content-Length: {len(body)}\r\n") + body[:10])
            time.sleep(0.02)
            connection.sendall(body[10:])
            head = connection.recv(64)
        assert head.startswith(b"HTTP/1.1 200"), (path, head)


def test_a_body_over_the_limit_with_its_length_declared_is_refused_before_it_is_sent(live_server):
    with _connect(live_server) as connection:
        connection.sendall(_head(live_server, "/prompt", f"Content-Length: {17 << 20}\r\n"))
        status, reply = _answer(connection)  # the server answers without waiting for 17 MB
    assert status == 413 and reply["error"]["type"] == "body_too_large"
    assert str(LIMIT) in reply["error"]["message"] and "16 MiB" in reply["error"]["message"]
    assert call_json(live_server.url + "/queue")[0] == 200


def test_a_chunked_body_over_the_limit_is_refused_once_it_passes_the_limit(live_server):
    piece = b"x" * (1 << 20)
    with _connect(live_server) as connection:
        connection.sendall(_head(live_server, "/prompt", "Transfer-Encoding: chunked\r\n") + b'c\r\n{"prompt": "\r\n')
        try:
            for _ in range(17):  # 17 MiB, and the body is never ended: the answer cannot wait for its end
                connection.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop taking more once it has answered
        status, reply = _answer(connection)
    assert status == 413 and reply["error"]["type"] == "body_too_large"
    assert str(LIMIT) in reply["error"]["message"]
    assert call_json(live_server.url + "/queue")[0] == 200


def test_a_body_just_under_the_limit_is_read(live_server):
    body, prompt_id = prompt_with_workflow(LIMIT - (64 << 10), 5)
    assert len(body) <= LIMIT
    answer = post_in_pieces(live_server, "/prompt", body, 1 << 20, 0)
    assert_queued_whole(live_server, answer, prompt_id, LIMIT - (64 << 10), 5)


def test_a_chain_of_3000_nodes_is_queued_and_runs(live_server):
    chain = {"0": {"class_type": "PrimitiveInt", "inputs": {"value": 0}}}
    for index in range(1, 3000):
        chain[str(index)] = {"class_type": "MathInt", "inputs": {"a": [str(index - 1), 0], "b": 1, "operation": "add"}}
    chain["out"] = {"class_type": "PreviewAny", "inputs": {"source": ["2999", 0]}}
    status, answer = post_in_pieces(live_server, "/prompt", json.dumps({"prompt": chain}).encode(), 16 << 10, 0.005)
    assert status == 200, answer
    entry = wait_for_history(live_server.url, answer["prompt_id"])
    assert entry["status"]["status_str"] == "success" and entry["outputs"]["out"]["text"] == ["2999"]


def test_a_plugin_route_reads_its_body_whole_and_refuses_one_over_the_limit_naming_it(own_server, tmp_path):
    (tmp_path / "custom_nodes").mkdir()
    (tmp_path / "custom_nodes" / "body_plugin.py").write_text(BODY_PLUGIN)
    server = own_server(base=tmp_path)
    body = json.dumps({"items": ["x" * 100] * 10_000}).encode()
    assert post_in_pieces(server, "/body_plugin/count", body, 8 << 10, 0.002) == (200, {"items": 10_000})
    piece = b"x" * (1 << 20)
    with _connect(server) as connection:
        connection.sendall(_head(server, "/api/body_plugin/count", "Transfer-Encoding: chunked\r\n"))
        try:
            for _ in range(PLUGIN_LIMIT // len(piece) + 2):  # never ended, as above
                connection.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, reply = _answer(connection)
    assert status == 413 and str(PLUGIN_LIMIT) in reply["error"]["message"]


@pytest.mark.parametrize("framing,start", [(f"Content-Length: {1 << 20}\r\n", b'{"prompt": '),
                                           ("Transfer-Encoding: chunked\r\n", b'b\r\n{"prompt": \r\n')])
def test_a_client_that_leaves_mid_body_is_no_server_error(live_server, framing, start):
    logged = len(live_server.log())
    with _connect(live_server) as connection:
        connection.sendall(_head(live_server, "/prompt", framing) + start)
    assert call_json(live_server.url + "/queue")[0] == 200
    assert "Connection lost" not in live_server.log()[logged:]  # nothing went wrong on the server's side
