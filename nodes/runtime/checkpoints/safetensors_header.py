"""Read and check a .safetensors header without torch, so a file can be identified before any weight is read.

Layout: 8 bytes little-endian header length N, N bytes of JSON ({name: {dtype, shape, data_offsets}, "__metadata__":
{...}}), then the tensor bytes. Checking that the file holds every byte the header promises catches interrupted
downloads before any weight is read.
"""
from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import CorruptCheckpointError

# Real headers are at most a few MB; a larger length means the first bytes are not a safetensors header.
MAX_HEADER_BYTES = 100 * 1024 * 1024
# {"name": {"shape": [...]}} is 3 deep and "__metadata__" holds only strings; one level of slack for odd writers.
MAX_HEADER_DEPTH = 4
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_OPENING = b"[{"
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))

REDOWNLOAD = "If it was downloaded, the download was probably interrupted or failed: download it again."


@dataclass(frozen=True)
class SafetensorsHeader:
    """What a .safetensors file holds: tensor shapes and dtypes by key, and its text metadata."""

    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, str]
    metadata: dict[str, str]
    data_bytes: int
    spans: dict[str, tuple[int, int]]  # each tensor's [begin, end) byte range in the file


def looks_like_safetensors(first_bytes: bytes) -> bool:
    """True when the first 9 bytes start a safetensors header (a length, then the JSON's opening brace)."""
    return len(first_bytes) >= 9 and first_bytes[8:9] == b"{"


def read_safetensors_header(path: str | Path) -> SafetensorsHeader:
    """Parse the header of `path` and check that the file is complete; raise CorruptCheckpointError if not."""
    path = Path(path)
    with path.open("rb") as handle:
        return header_of_open_file(handle, path)


def header_of_open_file(handle: BinaryIO, path: Path) -> SafetensorsHeader:
    """The header of the open file `handle` (read from its start), checked against that file's size: a reader
    that keeps the handle reads its tensors from the very file the header describes."""
    file_size = os.fstat(handle.fileno()).st_size
    handle.seek(0)
    prefix = handle.read(8)
    if len(prefix) < 8:
        raise CorruptCheckpointError(path, f"{path} is not a valid safetensors file: it is only {file_size} "
                                           f"bytes long. {REDOWNLOAD}")
    (header_len,) = struct.unpack("<Q", prefix)
    if header_len > min(MAX_HEADER_BYTES, file_size - 8):
        raise CorruptCheckpointError(path, _unreadable(path, "its header length is impossible"))
    raw = handle.read(header_len)
    if _nests_too_deeply(raw):
        raise CorruptCheckpointError(path, _unreadable(path, "its header is not a safetensors header: nested too "
                                                             "deeply"))
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CorruptCheckpointError(path, _unreadable(path, "its header is not valid JSON")) from None
    if not isinstance(header, dict):
        raise CorruptCheckpointError(path, _unreadable(path, "its header is not a JSON object"))
    return _check_entries(path, header, file_size - 8 - header_len, data_start=8 + header_len)


def _nests_too_deeply(raw: bytes) -> bool:
    """Whether the JSON text `raw` nests arrays and objects deeper than MAX_HEADER_DEPTH (brackets inside strings do
    not count). One pass that stops at the first level too deep, so json.loads never recurses deeper than that."""
    depth = 0
    for bracket in _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        depth += 1 if bracket in _OPENING else -1
        if depth > MAX_HEADER_DEPTH:
            return True
    return False


def _check_entries(path: Path, header: dict, available: int, data_start: int) -> SafetensorsHeader:
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise CorruptCheckpointError(path, _unreadable(path, "its __metadata__ is not a JSON object"))
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    spans: dict[str, tuple[int, int]] = {}
    needed = 0
    try:
        for key, entry in header.items():
            begin, end = entry["data_offsets"]
            shapes[key] = tuple(int(size) for size in entry["shape"])
            dtypes[key] = str(entry["dtype"])
            if not 0 <= begin <= end or min(shapes[key], default=0) < 0:
                raise ValueError(key)
            spans[key] = (data_start + int(begin), data_start + int(end))
            needed = max(needed, int(end))
    except (TypeError, KeyError, ValueError):
        raise CorruptCheckpointError(path, _unreadable(path, "its header has a malformed tensor entry")) from None
    if needed > available:
        raise CorruptCheckpointError(
            path, f"{path} is truncated: its header describes {needed:,} bytes of weights but the file holds only "
                  f"{max(available, 0):,}. {REDOWNLOAD}")
    return SafetensorsHeader(shapes=shapes, dtypes=dtypes, metadata={str(k): str(v) for k, v in metadata.items()},
                             data_bytes=needed, spans=spans)


def _unreadable(path: Path, why: str) -> str:
    return (f"{path} is not a valid safetensors file ({why}). {REDOWNLOAD} Some sites send an HTML page instead of "
            f"the file when a download needs a login.")
