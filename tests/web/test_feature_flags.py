"""The capabilities ComfyUI's frontend reads: GET /features, and the answer to the page's `feature_flags` message on
the websocket, after which the page gets binary previews (type 1: no metadata, as announced)."""
from __future__ import annotations

import json
import struct
import uuid

import aiohttp

from tests.web.client import call_json, run_async, text_to_image

EXPECTED = {"supports_preview_metadata": False, "max_upload_size": 64 * 1024 * 1024}


def test_features_say_what_the_server_supports(live_server):
    assert call_json(live_server.url + "/features") == (200, EXPECTED)
    assert call_json(live_server.url + "/api/features") == (200, EXPECTED)


def test_the_pages_feature_flags_are_answered_and_it_then_gets_type_1_previews(live_server):
    client_id = uuid.uuid4().hex

    async def scenario() -> tuple[dict, list[bytes]]:
        async with aiohttp.ClientSession() as session:
            socket = await session.ws_connect(f"{live_server.url.replace('http', 'ws', 1)}/ws?clientId={client_id}")
            assert json.loads((await socket.receive(timeout=10)).data)["type"] == "status"
            await socket.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
            answer = json.loads((await socket.receive(timeout=10)).data)
            async with session.post(f"{live_server.url}/prompt", json={
                    "prompt": text_to_image(seed=41, steps=3), "client_id": client_id}) as reply:
                prompt_id = (await reply.json())["prompt_id"]
            frames = []
            while True:
                message = await socket.receive(timeout=120)
                if message.type == aiohttp.WSMsgType.BINARY:
                    frames.append(message.data)
                    continue
                decoded = json.loads(message.data)
                if decoded["type"] == "executing" and decoded["data"]["node"] is None \
                        and decoded["data"]["prompt_id"] == prompt_id:
                    break
            await socket.close()
            return answer, frames

    answer, frames = run_async(scenario())
    assert answer == {"type": "feature_flags", "data": EXPECTED}
    assert frames and all(struct.unpack(">I", frame[:4])[0] == 1 for frame in frames)
