"""SaveImageAdvanced's OpenEXR encoder, written against the file specification with numpy alone (nothing installed
writes OpenEXR; its PNGs come from png_encoder):

- OpenEXR 2 single-part scanline files, uncompressed 32-bit float channels (Y, or B G R [A] in the alphabetical
  order the format requires), with extra `string` header attributes and the `chromaticities` of the primaries;
- the transfer functions that turn sRGB- or HLG-encoded values into the scene-linear light EXR holds.
"""
from __future__ import annotations

import struct
from typing import Any

EXR_MAGIC = b"\x76\x2f\x31\x01"
EXR_LONG_NAMES = 0x400  # version flag: attribute names may exceed 31 bytes
EXR_FLOAT = 2
EXR_CHANNELS = {1: ("Y",), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}  # the image's channel order
# CIE 1931 xy of red, green, blue and the D65 white point
CHROMATICITIES = {"Rec.709": (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290),
                  "Rec.2020": (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290)}
# BT.2100 HLG constants: a, b = 1 - 4a, c = 0.5 - a ln(4a)
HLG_A, HLG_B, HLG_C = 0.17883277, 0.28466892, 0.55991072928


def _exr_attribute(name: str, kind: str, value: bytes) -> bytes:
    return name.encode("utf-8") + b"\x00" + kind.encode("ascii") + b"\x00" + struct.pack("<i", len(value)) + value


def encode_exr(pixels: Any, strings: dict[str, str], primaries: str = "Rec.709") -> bytes:
    """An OpenEXR file of `pixels` (float32 numpy array [H, W, 1|3|4]), `strings` as `string` attributes."""
    import numpy as np

    height, width, channels = pixels.shape
    names = EXR_CHANNELS[channels]
    order = sorted(range(channels), key=lambda index: names[index])
    channel_list = b"".join(names[i].encode("ascii") + b"\x00" + struct.pack("<iB3xii", EXR_FLOAT, 0, 1, 1)
                            for i in order) + b"\x00"
    window = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    attributes = [("channels", "chlist", channel_list), ("compression", "compression", b"\x00"),
                  ("dataWindow", "box2i", window), ("displayWindow", "box2i", window),
                  ("lineOrder", "lineOrder", b"\x00"), ("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
                  ("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0)),
                  ("screenWindowWidth", "float", struct.pack("<f", 1.0)),
                  ("chromaticities", "chromaticities", struct.pack("<8f", *CHROMATICITIES[primaries]))]
    attributes += [(key, "string", value.encode("utf-8")) for key, value in strings.items()]
    flags = EXR_LONG_NAMES if any(len(name.encode("utf-8")) > 31 for name, _, _ in attributes) else 0
    header = (EXR_MAGIC + struct.pack("<I", 2 | flags)
              + b"".join(_exr_attribute(*attribute) for attribute in attributes) + b"\x00")
    # one block per scanline: y, byte count, then each channel's row in the channel list's order
    planes = np.ascontiguousarray(pixels[..., order].transpose(0, 2, 1), dtype="<f4")  # [H, C, W]
    row_bytes = channels * width * 4
    first_block = len(header) + 8 * height
    offsets = struct.pack(f"<{height}Q", *(first_block + y * (8 + row_bytes) for y in range(height)))
    blocks = b"".join(struct.pack("<ii", y, row_bytes) + planes[y].tobytes() for y in range(height))
    return header + offsets + blocks


def _colour_only(transfer: Any, image: Any) -> Any:
    """`transfer` applied to the colour channels; a fourth (alpha) channel passes unchanged."""
    if image.shape[-1] == 4:
        import torch

        return torch.cat([transfer(image[..., :3]), image[..., 3:]], dim=-1)
    return transfer(image)


def srgb_to_linear(image: Any) -> Any:
    """The sRGB EOTF (IEC 61966-2-1): v / 12.92 up to 0.04045, ((v + 0.055) / 1.055)^2.4 above."""
    import torch

    def transfer(v):
        return torch.where(v <= 0.04045, v / 12.92, ((v.clamp(min=0.0) + 0.055) / 1.055) ** 2.4)

    return _colour_only(transfer, image)


def hlg_to_linear(image: Any) -> Any:
    """BT.2100's inverse HLG OETF, to scene light: v^2 / 3 up to 1/2, (exp((v - c) / a) + b) / 12 above."""
    import torch

    def transfer(v):
        return torch.where(v <= 0.5, v ** 2 / 3.0, (torch.exp((v.clamp(min=0.5) - HLG_C) / HLG_A) + HLG_B) / 12.0)

    return _colour_only(transfer, image)
