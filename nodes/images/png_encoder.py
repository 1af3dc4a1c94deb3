"""PNG files (8 or 16 bits per sample) compressed with ISA-L's deflate (the `isal` package), for the image savers.

Pillow's encoder runs zlib after trying five filters on every row: 31 to 40 ms for 512 px of noise in
bench/save_image.py, more than SaveImage's whole budget (issue 18 §3). Here every row takes PNG's Up filter (its
difference to the row above: one numpy subtraction per band of rows, and as good as Pillow's choice on generated
pictures), and ISA-L's fastest level deflates it: 1.3 to 1.9 ms there, for a file as small as Pillow's level 4 on
noise and within 1% on a photo-like test picture (about 60% larger on flat drawings, which are small anyway). Any
PNG reader decodes it; the pixels are exactly the input. Pillow cannot write 16-bit colour at all, which
SaveImageAdvanced needs.
"""
from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type: grey, grey + alpha, RGB, RGBA
ISAL_LEVEL = 1  # its levels 2 and 3 took longer here for files no smaller; its level 0 grew noise by 23%
BAND_BYTES = 1 << 22  # rows are filtered and deflated this many bytes at a time: a large image needs no full copy


def _write_chunk(stream: BinaryIO, kind: bytes, data: Any) -> None:
    from isal import isal_zlib

    stream.write(struct.pack(">I", len(data)))
    stream.write(kind)
    stream.write(data)
    stream.write(struct.pack(">I", isal_zlib.crc32(data, isal_zlib.crc32(kind))))


def _up_filtered_rows(rows: Any, start: int, stop: int) -> Any:
    """Scanlines start..stop-1 as PNG stores them with the Up filter: a filter byte (2; 0 for the image's first row,
    which has no row above) before each row's bytes minus the bytes of the row above, modulo 256 (bytes, whatever
    the sample size)."""
    import numpy as np

    filtered = np.empty((stop - start, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2
    if start == 0:
        filtered[0, 0] = 0
        filtered[0, 1:] = rows[0]
        np.subtract(rows[1:stop], rows[:stop - 1], out=filtered[1:, 1:])
    else:
        np.subtract(rows[start:stop], rows[start - 1:stop - 1], out=filtered[:, 1:])
    return filtered


def _image_data(samples: Any, compress: bool) -> Iterator[bytes]:
    """The zlib stream of the filtered scanlines, in pieces as the deflater gives them out, band by band."""
    rows = samples.reshape(samples.shape[0], -1)
    if compress:
        from isal import isal_zlib

        deflater = isal_zlib.compressobj(ISAL_LEVEL)
    else:
        deflater = zlib.compressobj(0)
    band = max(1, BAND_BYTES // (rows.shape[1] + 1))
    for start in range(0, rows.shape[0], band):
        piece = deflater.compress(_up_filtered_rows(rows, start, min(start + band, rows.shape[0])))
        if piece:
            yield piece
    yield deflater.flush()


def write_png(stream: BinaryIO, pixels: Any, chunks: Iterable[tuple[bytes, bytes, bool]] = (),
              compress: bool = True) -> None:
    """Write `pixels` (a uint8 or uint16 numpy array [H, W] or [H, W, 1|2|3|4 channels]) to `stream` as a PNG file
    of 8 or 16 bits per sample.

    `chunks` are (type, data, after_idat) as Pillow's PngInfo.chunks holds them (tEXt, iTXt, ...): written after
    the header, or after the image data when after_idat. compress=False stores the data uncompressed (level 0)."""
    import numpy as np

    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    if pixels.dtype not in (np.uint8, np.uint16) or pixels.ndim not in (2, 3) or channels not in COLOUR_TYPES:
        raise ValueError(f"PNG pixels must be uint8 or uint16 [height, width] or [height, width, 1-4], got "
                         f"{pixels.dtype} {tuple(pixels.shape)}")
    height, width = pixels.shape[:2]
    if height == 0 or width == 0:
        raise ValueError(f"a PNG image needs at least one pixel, got {width}x{height}")
    depth = pixels.dtype.itemsize * 8
    samples = pixels.astype(">u2").view(np.uint8) if depth == 16 else np.ascontiguousarray(pixels)  # big-endian
    chunks = list(chunks)
    stream.write(SIGNATURE)
    _write_chunk(stream, b"IHDR", struct.pack(">IIBBBBB", width, height, depth, COLOUR_TYPES[channels], 0, 0, 0))
    for kind, chunk, after_idat in chunks:
        if not after_idat:
            _write_chunk(stream, kind, chunk)
    for piece in _image_data(samples, compress):
        _write_chunk(stream, b"IDAT", piece)
    for kind, chunk, after_idat in chunks:
        if after_idat:
            _write_chunk(stream, kind, chunk)
    _write_chunk(stream, b"IEND", b"")


def encode_png(pixels: Any, chunks: Iterable[tuple[bytes, bytes, bool]] = (), compress: bool = True) -> bytes:
    """The PNG file write_png writes, as bytes."""
    stream = io.BytesIO()
    write_png(stream, pixels, chunks, compress)
    return stream.getvalue()
