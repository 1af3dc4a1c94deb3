"""Uploads count the pixels of every frame (animated PNG, GIF and WebP, many-page TIFF) against the pixel limit,
read from the file's headers: a few kilobytes can declare gigabytes of frames that LoadImage would decode."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.fixtures.animated_images import animated_gif, animated_png, animated_webp, many_page_tiff
from tests.web.client import call_json
from tests.web.test_security import upload

LIMIT = 64_000_000  # ServerSettings.max_upload_pixels


@pytest.mark.parametrize("kind,data,described", [
    ("apng", lambda: animated_png(2000, 4000, 4000), "2000 frames of 4000x4000 (32000000000 pixels in all)"),
    ("gif", lambda: animated_gif(70, 1000, 1000), "70 frames of 1000x1000 (70000000 pixels in all)"),
    ("webp", lambda: animated_webp(2000, 4000, 4000), "2000 frames of 4000x4000 (32000000000 pixels in all)"),
    ("tiff", lambda: many_page_tiff((100, 100), 70, (1000, 1000)),
     "71 frames, the first 100x100 (70010000 pixels in all)"),
])
def test_frames_beyond_the_pixel_limit_are_refused_at_upload(live_server, kind, data, described):
    payload = data()
    with Image.open(io.BytesIO(payload)) as first:  # the first frame alone is within the limit
        assert first.size[0] * first.size[1] <= LIMIT
    status, answer = upload(live_server, {"image": payload}, file_name=f"bomb.{kind}")
    assert status == 413, answer
    assert answer["error"]["type"] == "image_too_large"
    assert answer["error"]["message"] == f"the image is {described}: more than the limit of {LIMIT} pixels"
    assert not any(path.stem.startswith("bomb") for path in (live_server.base_dir / "input").iterdir())
    assert call_json(live_server.url + "/queue")[0] == 200


def test_animations_within_the_limit_are_kept_whole(live_server):
    payload = animated_png(20, 100, 100)
    status, answer = upload(live_server, {"image": payload}, file_name="small animation.png")
    assert status == 200 and answer["name"] == "small animation.png"
    with Image.open(live_server.base_dir / "input" / answer["name"]) as stored:
        assert stored.n_frames == 20
