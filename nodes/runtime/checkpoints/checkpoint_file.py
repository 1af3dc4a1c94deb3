"""One model file opened for reading: keys, shapes and metadata at once, tensors on demand, memory-mapped."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CheckpointError, CorruptCheckpointError
from .safetensors_header import REDOWNLOAD, SafetensorsHeader, looks_like_safetensors, read_safetensors_header

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
MODEL_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES


# safetensors dtype names -> torch dtype attribute names (strings: header reads stay torch-free)
SAFETENSORS_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                      "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def _torch_dtype(name: str) -> "torch.dtype | None":
    import torch

    attribute = SAFETENSORS_DTYPES.get(name)
    return getattr(torch, attribute) if attribute else None


class CheckpointFile:
    """A model file: `shapes` and `metadata` come from the header (no torch for safetensors); `tensor(key)` reads one
    weight, memory-mapped when the format allows, so nothing is copied until a caller converts it."""

    def __init__(self, path: Path, file_format: str, shapes: dict[str, tuple[int, ...]], metadata: dict[str, str],
                 tensors: dict[str, Any] | None = None, header: SafetensorsHeader | None = None) -> None:
        self.path = path
        self.format = file_format
        self.shapes = shapes
        self.metadata = metadata
        self._header = header
        self._tensors = tensors  # pickles: already loaded (memory-mapped for zip files)
        self._handle: Any = None  # safetensors: safe_open handle, opened on first tensor()
        self._raw: Any = None  # safetensors: plain file handle for tensor_copy(), opened on first use
        self._closed = False

    def tensor(self, key: str) -> "torch.Tensor":
        """The stored tensor `key` on the CPU, as stored (dtype unchanged)."""
        if self._closed:
            raise ValueError(f"{self.path} was closed")
        if self._tensors is not None:
            return self._tensors[key]
        if self._handle is None:
            self._handle = _open_safetensors(self.path)
        try:
            return self._handle.get_tensor(key)
        except Exception as error:  # safetensors raises its own error type for unreadable data
            if key not in self.shapes:
                raise KeyError(key) from None
            raise CorruptCheckpointError(self.path, f"{self.path} could not be read at weight '{key}' ({error}). "
                                                    f"{REDOWNLOAD}") from None

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

    def tensor_copy(self, key: str) -> "torch.Tensor":
        """The stored tensor `key` read into a private buffer instead of mapped: for weights that are converted or
        moved right away, so the file's pages never count in this process's memory (only the page cache's)."""
        if self._header is None or self._closed:
            return self.tensor(key)
        import torch

        begin, end = self._header.spans[key]
        dtype = _torch_dtype(self._header.dtypes[key])
        if dtype is None:
            return self.tensor(key)
        if self._raw is None:
            self._raw = self.path.open("rb", buffering=0)
        buffer = bytearray(end - begin)
        self._raw.seek(begin)
        if self._raw.readinto(buffer) != len(buffer):
            raise CorruptCheckpointError(self.path, f"{self.path} ended while reading weight '{key}'. {REDOWNLOAD}")
        if not buffer:
            return torch.empty(self.shapes[key], dtype=dtype)
        return torch.frombuffer(buffer, dtype=dtype).reshape(self.shapes[key])

    def close(self) -> None:
        """Drop this file's handles; tensors already handed out stay valid (they hold their own mapping or buffer)."""
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self._handle = None
        self._tensors = None
        self._closed = True

    def __enter__(self) -> "CheckpointFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
    with path.open("rb") as handle:
        first = handle.read(9)
    if looks_like_safetensors(first) or (path.suffix.lower() in SAFETENSORS_SUFFIXES and not _pickle_magic(first)):
        header = read_safetensors_header(path)
        log.debug("opened %s: safetensors, %d tensors", path, len(header.shapes))
        return CheckpointFile(path, "safetensors", header.shapes, header.metadata, header=header)
    from .pickle_reader import load_pickle_tensors  # imports torch

    tensors = load_pickle_tensors(path)
    shapes = {key: tuple(tensor.shape) for key, tensor in tensors.items()}
    log.debug("opened %s: pickle, %d tensors", path, len(shapes))
    return CheckpointFile(path, "pickle", shapes, {}, tensors)


def _pickle_magic(first: bytes) -> bool:
    return first.startswith(b"PK\x03\x04") or first.startswith(b"\x80")


def _open_safetensors(path: Path) -> Any:
    from safetensors import safe_open  # imports torch through framework="pt"

    try:
        return safe_open(str(path), framework="pt", device="cpu")
    except Exception as error:
        message = f"{path} is not a readable safetensors file ({error}). {REDOWNLOAD}"
        raise CorruptCheckpointError(path, message) from None
