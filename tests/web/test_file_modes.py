"""Files the server writes get the usual mode for new files, 0666 less the server's umask (as ComfyUI and any
image tool give), not the 0600 of a private temporary file: uploads and saved images alike."""
from __future__ import annotations

import io
import os
import uuid

from PIL import Image

from tests.web.client import listen, text_to_image, wait_for_history
from tests.web.test_security import upload


def png_bytes() -> bytes:
    stream = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(stream, format="PNG")
    return stream.getvalue()


def mode_of(path) -> int:
    return os.stat(path).st_mode & 0o777


def test_uploads_and_saved_images_follow_the_servers_umask(own_server):
    server = own_server(preexec_fn=lambda: os.umask(0o027))  # a mask no default gives: 0640 proves it is used
    status, answer = upload(server, {"image": png_bytes()}, file_name="red.png")
    assert status == 200, answer
    assert mode_of(server.base_dir / "input" / answer["name"]) == 0o640

    answer, _ = listen(server.url, {"prompt": text_to_image(size=64, steps=1, prefix="modes")}, uuid.uuid4().hex)
    entry = wait_for_history(server.url, answer["prompt_id"])
    (image,) = entry["outputs"]["9"]["images"]
    assert mode_of(server.base_dir / "output" / image["filename"]) == 0o640
