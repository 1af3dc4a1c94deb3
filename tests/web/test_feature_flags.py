"""The capabilities ComfyUI's frontend reads: GET /features, and the answer to the page's `feature_flags` message on
the websocket, after which the page gets binary previews; a page that does not say it reads preview metadata gets
them as type 1 (type 4, for pages that do, is in test_progress_state.py)."""
from __future__ import annotations

import io
import struct
import uuid

from PIL import Image

from tests.web.client import call_json, listen, text_to_image

EXPECTED = {"supports_preview_metadata": True, "max_upload_size": 64 * 1024 * 1024}


def test_features_say_what_the_server_supports(live_server):
    assert call_json(live_server.url + "/features") == (200, EXPECTED)
    assert call_json(live_server.url + "/api/features") == (200, EXPECTED)


def test_a_page_without_preview_metadata_is_answered_and_gets_type_1_previews(live_server):
    _, messages = listen(live_server.url, {"prompt": text_to_image(seed=41, steps=3)}, uuid.uuid4().hex,
                         feature_flags={"max_upload_size": 1})
    assert messages[1] == ("feature_flags", EXPECTED)
    frames = [data for kind, data in messages if kind == "binary"]
    assert frames and all(struct.unpack(">II", frame[:8]) == (1, 1) for frame in frames)  # type 1, JPEG
    with Image.open(io.BytesIO(frames[0][8:])) as preview:
        assert preview.format == "JPEG"
