"""The savers' PNG encoder: files that Pillow (an independent decoder, which checks every chunk's CRC) reads back to
exactly the pixels given, with the text chunks where Pillow itself would put them."""
from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from nodes.images import png_encoder
from nodes.images.png_encoder import write_png
from tests.nodes.images.image_helpers import decoded_png, png_chunks


def encoded(pixels: np.ndarray, chunks=(), compress: bool = True) -> bytes:
    stream = io.BytesIO()
    write_png(stream, pixels, chunks, compress=compress)
    return stream.getvalue()


def chunk_types(data: bytes) -> list[bytes]:
    return [kind for kind, _ in png_chunks(data)]


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.verify()  # every chunk's CRC, and the end of the file
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def smooth_and_noisy(height: int, width: int, channels: int, seed: int, grain: int = 20) -> np.ndarray:
    """Gradients with noise and a few flat bands: rows whose Up differences wrap around below zero and above 255."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:height, 0:width]
    base = (rows * 7 + columns * 3)[..., None] + np.arange(channels) * 50
    pixels = (base + rng.integers(-grain, grain + 1, base.shape)) % 256
    pixels[height // 3:height // 2] = 255
    return pixels.astype(np.uint8)


@pytest.mark.parametrize("channels,mode", [(1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")])
@pytest.mark.parametrize("height,width", [(1, 1), (5, 3), (64, 97)])
def test_pixels_come_back_exactly_in_every_layout(channels, mode, height, width):
    pixels = smooth_and_noisy(height, width, channels, seed=height * width + channels)
    image = decoded(encoded(pixels if channels > 1 else pixels[..., 0]))
    assert image.mode == mode and image.size == (width, height)
    expected = pixels[..., 0] if channels == 1 else pixels
    assert np.array_equal(np.asarray(image), expected)


@pytest.mark.parametrize("channels,mode", [(1, "I;16"), (3, "RGB")])
def test_sixteen_bit_samples_are_written_big_endian_at_depth_16(channels, mode):
    rng = np.random.default_rng(channels)
    pixels = rng.integers(0, 65536, (7, 6, channels), dtype=np.uint16)
    pixels[0, 0] = 0x0102  # byte order shows
    data = encoded(pixels if channels == 3 else pixels[..., 0])
    header, samples = decoded_png(data)
    assert header["depth"] == 16 and np.array_equal(samples, pixels)
    assert zlib.decompress(png_chunks(data)[1][1])[:3] == bytes([0, 1, 2])  # row 0 unfiltered: 0x0102 big-endian
    image = decoded(data)
    assert image.mode == mode and image.size == (6, 7)
    if channels == 1:  # Pillow reads 16-bit grey (16-bit colour it reduces to 8 bits)
        assert np.array_equal(np.asarray(image).astype(np.uint16), pixels[..., 0])


def test_a_single_channel_array_with_its_channel_axis_is_grey():
    pixels = smooth_and_noisy(9, 11, 1, seed=1)
    image = decoded(encoded(pixels))
    assert image.mode == "L" and np.array_equal(np.asarray(image), pixels[..., 0])


def test_text_chunks_go_before_the_image_data_and_private_ones_after_as_pillow_puts_them():
    info = PngInfo()
    info.add_text("prompt", '{"3": {"class_type": "KSampler"}}')
    info.add_text("parameters", "a cat, 日本語\nSteps: 20")  # not Latin-1: Pillow makes it iTXt
    info.add(b"prVt", b"after", after_idat=True)
    pixels = smooth_and_noisy(16, 16, 3, seed=2)
    data = encoded(pixels, info.chunks)
    image = decoded(data)
    assert image.text == {"prompt": '{"3": {"class_type": "KSampler"}}', "parameters": "a cat, 日本語\nSteps: 20"}
    assert chunk_types(data) == [b"IHDR", b"tEXt", b"iTXt", b"IDAT", b"prVt", b"IEND"]
    reference = io.BytesIO()
    Image.fromarray(pixels).save(reference, format="PNG", pnginfo=info)
    assert [kind for kind in chunk_types(reference.getvalue()) if kind != b"IDAT"] == \
        [kind for kind in chunk_types(data) if kind != b"IDAT"]


def test_rows_are_up_filtered_and_uncompressed_when_asked():
    pixels = np.array([[[10, 20, 30], [200, 0, 5]], [[5, 20, 40], [0, 250, 5]]], dtype=np.uint8)
    data = encoded(pixels, compress=False)
    stored = b"".join(body for kind, body in png_chunks(data) if kind == b"IDAT")
    rows = zlib.decompress(stored)
    # row 0 as it is (filter 0); row 1 minus row 0 modulo 256 (filter 2, Up)
    assert list(rows) == [0, 10, 20, 30, 200, 0, 5, 2, 251, 0, 10, 56, 250, 0]
    assert len(stored) > len(rows)  # stored, not deflated
    assert np.array_equal(np.asarray(decoded(data)), pixels)
    assert np.array_equal(decoded_png(data)[1], pixels)


@pytest.mark.parametrize("compress", [True, False])
def test_a_large_image_is_filtered_and_deflated_in_bands_that_join_up(monkeypatch, compress):
    monkeypatch.setattr(png_encoder, "BAND_BYTES", 1000)  # 6 rows of 151 bytes a band, 7 bands
    pixels = np.random.default_rng(3).integers(0, 256, (40, 50, 3), dtype=np.uint8)  # noise: deflates to ~6 kB
    data = encoded(pixels, compress=compress)
    assert chunk_types(data).count(b"IDAT") >= 1  # as many as the deflater gave out pieces
    assert np.array_equal(np.asarray(decoded(data)), pixels)
    assert np.array_equal(decoded_png(data)[1], pixels)  # every row after the first Up-filtered, across bands too


def test_compressed_generated_pictures_are_as_small_as_pillows_level_four():
    """The size this encoder trades for speed, on a photo-like picture (smooth gradients with grain)."""
    pixels = smooth_and_noisy(256, 256, 3, seed=4, grain=6)
    reference = io.BytesIO()
    Image.fromarray(pixels).save(reference, format="PNG", compress_level=4)
    ours = len(encoded(pixels))
    assert ours <= 1.1 * len(reference.getvalue())
    assert ours < 0.6 * pixels.nbytes


@pytest.mark.parametrize("pixels,message", [
    (np.zeros((4, 4, 3), dtype=np.float32), "uint8"),
    (np.zeros((4, 4, 3), dtype=np.int16), "uint8"),
    (np.zeros((4, 4, 5), dtype=np.uint8), "uint8"),
    (np.zeros((4,), dtype=np.uint8), "uint8"),
    (np.zeros((0, 4, 3), dtype=np.uint8), "at least one pixel"),
])
def test_arrays_that_are_no_8_bit_image_are_refused_by_name(pixels, message):
    with pytest.raises(ValueError, match=message):
        encoded(pixels)
