"""frame_pixels: frames x pixels of every frame from an image file's headers, without decoding the frames."""
from __future__ import annotations

import io

from PIL import Image

from graph_engine.image_frames import FramePixels, frame_pixels
from tests.fixtures.animated_images import animated_gif, animated_png, animated_webp, many_page_tiff


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_animations_count_every_frame_of_the_canvas():
    for data in (animated_png(2000, 4000, 4000), animated_webp(2000, 4000, 4000)):
        with opened(data) as image:
            assert frame_pixels(image) == FramePixels(2000, 2000 * 16_000_000, 4000, 4000)
    with opened(animated_gif(5, 30, 20)) as image:
        counted = frame_pixels(image)
        assert counted == FramePixels(5, 3000, 30, 20)
        assert counted.describe() == "5 frames of 30x20 (3000 pixels in all)"


def test_tiff_pages_are_counted_at_their_own_size_and_the_image_stays_at_its_first_page():
    with opened(many_page_tiff((10, 10), 3, (100, 50))) as image:
        counted = frame_pixels(image)
        assert counted == FramePixels(4, 100 + 3 * 5000, 10, 10)
        assert counted.describe() == "4 frames, the first 10x10 (15100 pixels in all)"
        assert image.tell() == 0 and image.size == (10, 10)


def test_a_still_image_and_an_mpo_count_one_frame():
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buffer, format="PNG")
    with opened(buffer.getvalue()) as image:
        assert frame_pixels(image).describe() == "40x30"
    mpo = io.BytesIO()
    Image.new("RGB", (40, 30)).save(mpo, format="MPO", save_all=True, append_images=[Image.new("RGB", (40, 30))])
    with opened(mpo.getvalue()) as image:
        assert image.format == "MPO" and image.n_frames == 2
        assert frame_pixels(image) == FramePixels(1, 1200, 40, 30)  # LoadImage reads the first picture only
