"""A tiny IMAGE source node and a capturing output node for the image node tests, and prompt builders."""
from __future__ import annotations

import struct
import zlib
from typing import Any


def make_images(seed: int, batch: int, height: int, width: int, channels: int = 3):
    """Random pixels plus fixed edge values in the first row: below 0, above 1, just under 1, 0.5."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    images = torch.rand((batch, height, width, channels), generator=generator)
    edges = torch.tensor([-0.5, 1.5, 0.999, 0.5, 1.0, 0.0])[: width]
    images[:, 0, : len(edges), 0] = edges
    return images


class ImageSourceNode:
    CATEGORY = "testing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls):
        small = {"default": 8, "min": 1, "max": 64}
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 2**31}), "batch": ("INT", {"default": 1, "min": 1, "max": 8}),
                             "height": ("INT", small), "width": ("INT", small),
                             "channels": ("INT", {"default": 3, "min": 1, "max": 4})}}

    def make(self, seed, batch, height, width, channels):
        return (make_images(seed, batch, height, width, channels),)


def source(seed=0, batch=1, height=8, width=8, channels=3) -> dict:
    return {"class_type": "TestImageSource",
            "inputs": {"seed": seed, "batch": batch, "height": height, "width": width, "channels": channels}}



class CaptureNode:
    """Output node that keeps whatever reaches its input (any type), for tests that run a prompt."""
    seen: list = []
    CATEGORY = "testing"
    RETURN_TYPES = ()
    FUNCTION = "take"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*",)}}

    def take(self, value):
        CaptureNode.seen.append(value)
        return {"ui": {"captured": [True]}}


def captured(engine, prompt: dict, node_id: str, output: int = 0) -> list:
    """Run `prompt` with a capture (the conftest's engine has it) of output `output` of `node_id`: each value the
    capture received (several when the output is a list)."""
    CaptureNode.seen = []
    result = engine.run({**prompt, "capture": {"class_type": "CaptureValue", "inputs": {"value": [node_id, output]}}})
    assert result.ok, result.error
    return CaptureNode.seen


def run_and_capture(engine, prompt: dict, node_id: str, output: int = 0):
    """The one value output `output` of `node_id` gives when `prompt` runs."""
    (value,) = captured(engine, prompt, node_id, output)
    return value


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, checking each CRC."""
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        position += 12 + length
    return chunks


def decoded_png(data: bytes) -> tuple[dict, Any]:
    """IHDR's depth and colour type, and the samples of a non-interlaced PNG whose rows use filter 0 (None) or 2
    (Up, as the savers write them), decoded here by the PNG specification, not by Pillow."""
    import numpy as np

    chunks = png_chunks(data)
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[colour]
    rows = np.frombuffer(raw, np.uint8).reshape(height, -1)
    assert set(rows[:, 0].tolist()) <= {0, 2} and rows[0, 0] == 0
    samples = rows[:, 1:].copy()
    for row in range(1, height):
        if rows[row, 0] == 2:
            samples[row] += samples[row - 1]  # Up: modulo 256, as uint8 adds
    values = np.frombuffer(samples.tobytes(), ">u2" if depth == 16 else np.uint8)
    return {"depth": depth, "colour": colour}, values.reshape(height, width, channels)
