"""One model file opened for reading: keys, shapes and metadata at once, tensors on demand, read into private memory.

Tensors are read with ordinary file reads, never mapped: a mapping of a file that is rewritten in place changes
under the loaded model, and one that shrinks kills the process with SIGBUS on the next access. A read instead comes
up short, which names the file; and the file's identity is checked again when the reading is done, so a rewrite
that kept the size is noticed too.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .errors import CheckpointError, CorruptCheckpointError, FileChangedError
from model_library.file_identity import FileIdentity, file_identity
from model_library.kinds import MODEL_SUFFIXES, SAFETENSORS_SUFFIXES
from .range_reader import CAN_READ_IN_PARALLEL, READ_THREADS, RangeReader
from .read_ahead import Prepare, ReadAhead
from .safetensors_header import REDOWNLOAD, SafetensorsHeader, header_of_open_file, looks_like_safetensors

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# safetensors dtype names -> torch dtype attribute names (strings: header reads stay torch-free)
SAFETENSORS_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                      "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool",
                      "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "U16": "uint16", "U32": "uint32",
                      "U64": "uint64"}
# Read-ahead groups neighbouring tensors into one read up to these sizes (larger tensors are read alone).
RUN_BYTES = 8 * 1024 * 1024
RUN_TENSORS = 64


def _torch_dtype(name: str) -> "torch.dtype | None":
    import torch

    attribute = SAFETENSORS_DTYPES.get(name)
    return getattr(torch, attribute, None) if attribute else None


class CheckpointFile:
    """A model file: `shapes` and `metadata` come from the header (no torch for safetensors); `tensor(key)` reads one
    weight into memory of its own. Used as a context manager, leaving the block without an error checks that the
    file is still the version that was opened (FileChangedError otherwise)."""

    def __init__(self, path: Path, file_format: str, shapes: dict[str, tuple[int, ...]], metadata: dict[str, str],
                 tensors: dict[str, Any] | None = None, header: SafetensorsHeader | None = None,
                 handle: BinaryIO | None = None, identity: FileIdentity | None = None) -> None:
        self.path = path
        self.format = file_format
        self.shapes = shapes
        self.metadata = metadata
        self.identity = identity  # the version that was opened
        self._header = header
        self._tensors = tensors  # pickles: already read
        self._handle = handle  # safetensors: the open file the header came from, read unbuffered
        self._reader = RangeReader(handle, path) if handle is not None else None
        self._read_ahead: ReadAhead | None = None
        self._closed = False

    def tensor(self, key: str) -> "torch.Tensor":
        """The stored tensor `key` on the CPU, as stored (dtype unchanged), in memory no other tensor shares."""
        if self._closed:
            raise ValueError(f"{self.path} was closed")
        if self._tensors is not None:
            return self._tensors[key]
        if key not in self.shapes:
            raise KeyError(key)
        return self._read_tensor(key)

    def read_ahead(self, keys: Sequence[str], prepare: Prepare) -> ReadAhead | None:
        """Start reading `keys`, in this order, on background threads, each passed through `prepare(key, tensor)`
        by the thread that read it; take them from the returned ReadAhead. None where tensors are not read on
        demand (pickles: already in memory) or a file cannot be read from several threads: read them one by one.
        Closing this file (or leaving its block) stops the reads."""
        if self._closed:
            raise ValueError(f"{self.path} was closed")
        if self._header is None or not CAN_READ_IN_PARALLEL:
            return None
        self.stop_reading_ahead()
        self._read_ahead = ReadAhead(self._runs([key for key in keys if key in self.shapes]), self._read_run,
                                     prepare, READ_THREADS)
        return self._read_ahead

    def stop_reading_ahead(self) -> None:
        """Cancel the background reads not started and wait for those running (nothing reads the file after)."""
        if self._read_ahead is not None:
            self._read_ahead.close()
            self._read_ahead = None

    def stored_dtype(self, key: str) -> "torch.dtype":
        """The dtype `key` is stored in, from the header when there is one (nothing is read)."""
        if self._header is not None:
            dtype = _torch_dtype(self._header.dtypes[key])
            if dtype is not None:
                return dtype
        return self.tensor(key).dtype

    def dtype_names(self) -> dict[str, str]:
        """Each tensor's stored dtype by name ("F16", "float16"...): from the header for safetensors (nothing read)."""
        if self._header is not None:
            return dict(self._header.dtypes)
        return {key: str(self.tensor(key).dtype).removeprefix("torch.") for key in self.shapes}

    def check_unchanged(self) -> None:
        """Raise FileChangedError when the open file is no longer the version that was opened (written since)."""
        if self._handle is not None and self.identity is not None and \
                file_identity(self._handle.fileno()) != self.identity:
            raise FileChangedError(self.path)

    def close(self) -> None:
        """Drop this file's handle; tensors already handed out stay valid (each owns its memory)."""
        self.stop_reading_ahead()
        if self._handle is not None:
            self._reader.close()
            self._handle.close()
            self._handle = None
        self._tensors = None
        self._closed = True

    def __enter__(self) -> "CheckpointFile":
        return self

    def __exit__(self, error_type: type | None, *exc_info: object) -> None:
        try:
            self.stop_reading_ahead()  # every read done before the identity check that vouches for them
            if error_type is None:
                self.check_unchanged()
        finally:
            self.close()

    def _read_tensor(self, key: str) -> "torch.Tensor":
        buffer = self._stored_buffer(key)
        # the header said the file holds these bytes, so a short read means it shrank: FileChangedError
        self._reader.read_into(memoryview(buffer.numpy()), self._header.spans[key][0])
        return self._as_stored(key, buffer)

    def _read_run(self, keys: Sequence[str]) -> "dict[str, torch.Tensor]":
        """Tensors stored one after the other, read by one call in the calling thread."""
        buffers = [self._stored_buffer(key) for key in keys]
        begin = self._header.spans[keys[0]][0]
        self._reader.read_consecutive([memoryview(buffer.numpy()) for buffer in buffers], begin)
        return {key: self._as_stored(key, buffer) for key, buffer in zip(keys, buffers)}

    def _runs(self, keys: Sequence[str]) -> list[list[str]]:
        """`keys` in order, neighbours in the file grouped up to RUN_BYTES and RUN_TENSORS per group."""
        runs: list[list[str]] = []
        run_end = run_bytes = -1
        for key in keys:
            begin, end = self._header.spans[key]
            if begin != run_end or run_bytes + end - begin > RUN_BYTES or len(runs[-1]) >= RUN_TENSORS:
                runs.append([])
                run_bytes = 0
            runs[-1].append(key)
            run_end, run_bytes = end, run_bytes + end - begin
        return runs

    def _stored_buffer(self, key: str) -> "torch.Tensor":
        """Fresh bytes for `key`, after checking that the header's byte range fits its dtype and shape."""
        import torch

        begin, end = self._header.spans[key]
        dtype = _torch_dtype(self._header.dtypes[key])
        if dtype is None:
            raise CorruptCheckpointError(self.path, f"{self.path}: weight '{key}' is stored as "
                                                    f"{self._header.dtypes[key]}, a type Latentloom cannot read.")
        shape = self.shapes[key]
        elements = 1
        for size in shape:
            elements *= size
        if elements * dtype.itemsize != end - begin:
            raise CorruptCheckpointError(self.path, f"{self.path}: weight '{key}' takes {end - begin} bytes in the "
                                                    f"file but its shape {shape} needs {elements * dtype.itemsize}. "
                                                    f"{REDOWNLOAD}")
        return torch.empty(end - begin, dtype=torch.uint8)

    def _as_stored(self, key: str, buffer: "torch.Tensor") -> "torch.Tensor":
        return buffer.view(_torch_dtype(self._header.dtypes[key])).reshape(self.shapes[key])


def open_checkpoint_file(path: str | Path) -> CheckpointFile:
    """Open a .safetensors/.sft file by its header, or a .ckpt/.pt/.pth/.bin through the weights-only unpickler.

    The content decides the reader (a .ckpt that is really safetensors is read as such); the suffix decides only
    when the content is unrecognisable, so the error is the one for the format the user expected.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(path, f"{path} is a folder; this loader reads single-file checkpoints "
                                    f"({', '.join(MODEL_SUFFIXES)}).")
    if not path.exists():
        raise CheckpointError(path, f"{path} does not exist. Check the file name and the models folder.")
    handle = path.open("rb", buffering=0)
    try:
        identity = file_identity(handle.fileno())
        first = handle.read(9)
        if looks_like_safetensors(first) or (path.suffix.lower() in SAFETENSORS_SUFFIXES and not _pickle_magic(first)):
            header = header_of_open_file(handle, path)
            log.debug("opened %s: safetensors, %d tensors", path, len(header.shapes))
            return CheckpointFile(path, "safetensors", header.shapes, header.metadata, header=header, handle=handle,
                                  identity=identity)
    except BaseException:
        handle.close()
        raise
    handle.close()
    from .pickle_reader import load_pickle_tensors  # imports torch

    tensors = load_pickle_tensors(path)
    shapes = {key: tuple(tensor.shape) for key, tensor in tensors.items()}
    log.debug("opened %s: pickle, %d tensors", path, len(shapes))
    return CheckpointFile(path, "pickle", shapes, {}, tensors)


def read_all_tensors(path: str | Path) -> tuple[dict[str, "torch.Tensor"], dict[str, str]]:
    """Every tensor of a model file, each in memory of its own, and the file's metadata: for small files kept whole
    (LoRAs, embeddings)."""
    with open_checkpoint_file(path) as opened:
        return {key: opened.tensor(key) for key in opened.shapes}, dict(opened.metadata)


def _pickle_magic(first: bytes) -> bool:
    return first.startswith(b"PK\x03\x04") or first.startswith(b"\x80")
