"""Read tensors from .ckpt/.pt/.pth/.bin pickles with torch's weights-only unpickler, so a file can never run code.

The original SD1.x .ckpt files also pickle PyTorch Lightning's ModelCheckpoint class and numpy scalars. For those
files only: the Lightning name maps to an inert class of ours, and numpy's scalar and dtype constructors (which build
plain values) are allowed. Anything else beyond tensors and containers is refused.
"""
from __future__ import annotations

import _codecs
import logging
import pickle
import re
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from .errors import CorruptCheckpointError, FileChangedError, UnsafePickleError
from model_library.file_identity import file_identity
from .safetensors_header import REDOWNLOAD

log = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
LEGACY_PICKLE_MAGIC = b"\x80"  # protocol 2+ pickle, written by torch.save(_use_new_zipfile_serialization=False)
LIGHTNING_CALLBACK = "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"
# numpy < 2 pickles its scalar constructor as numpy.core.multiarray.scalar, numpy 2 as numpy._core.multiarray.scalar
NUMPY_SCALAR_NAMES = ("numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar")
HARMLESS_GLOBALS = {LIGHTNING_CALLBACK, "_codecs.encode", "numpy.dtype", *NUMPY_SCALAR_NAMES}


class LightningCheckpointSettings:
    """Inert stand-in for pytorch_lightning's ModelCheckpoint, whose settings old SD .ckpt files carry; it keeps them
    as plain attributes and runs nothing."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


def load_pickle_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load the tensors of a pickle checkpoint into memory of their own (never mapped from the file, which may be
    rewritten while they are in use), keys flattened with dots."""
    path = Path(path)
    tensors = flatten_tensors(_unwrap_state_dict(load_pickle(path)))
    if not tensors:
        raise CorruptCheckpointError(path, f"{path} holds no tensors, so it is not a model file.")
    return tensors


def load_pickle(path: str | Path) -> Any:
    """What a pickle file holds, as plain containers, strings, numbers and tensors (in memory of their own): for
    files whose layout is more than a flat state dict (A1111 hypernetworks: lists of layer dicts beside options)."""
    path = Path(path)
    with path.open("rb") as handle:
        opened = file_identity(handle.fileno())
        magic = handle.read(4)
        if not (magic.startswith(ZIP_MAGIC) or magic.startswith(LEGACY_PICKLE_MAGIC)):
            raise CorruptCheckpointError(path, f"{path} is not a PyTorch checkpoint: it does not start like one. "
                                               f"{REDOWNLOAD}")
        handle.seek(0)
        try:
            with _harmless_globals():
                loaded = torch.load(handle, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise UnsafePickleError(path, _refusal(path, _needed_global(path, error, magic.startswith(ZIP_MAGIC)))) \
                from None
        except (RuntimeError, EOFError, OSError, ValueError) as error:
            log.debug("torch.load failed on %s", path, exc_info=True)
            if file_identity(handle.fileno()) != opened:
                raise FileChangedError(path) from None
            raise CorruptCheckpointError(path, f"{path} could not be read as a PyTorch checkpoint "
                                               f"({_first_line(error)}). {REDOWNLOAD}") from None
        if file_identity(handle.fileno()) != opened:
            raise FileChangedError(path)
    return loaded


def flatten_tensors(tree: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Tensors of nested mappings and lists under dotted keys (a list's items by index, as A1111 hypernetworks nest
    theirs); other values (step counts, names) are dropped."""
    found: dict[str, torch.Tensor] = {}
    if isinstance(tree, torch.Tensor):
        found[prefix.rstrip(".")] = tree
    elif isinstance(tree, Mapping):
        for key, value in tree.items():
            found.update(flatten_tensors(value, f"{prefix}{key}."))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            found.update(flatten_tensors(value, f"{prefix}{index}."))
    return found


def _unwrap_state_dict(loaded: Any) -> Any:
    # Lightning/LDM checkpoints put the weights under "state_dict" next to the optimizer step and callbacks.
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        return loaded["state_dict"]
    return loaded


def _harmless_globals():
    """Allow, for this load only, the few non-tensor names real SD checkpoints pickle, each known to run nothing."""
    allowed: list = [(LightningCheckpointSettings, LIGHTNING_CALLBACK), _codecs.encode]
    numpy_scalar = _numpy_scalar()
    if numpy_scalar is not None:
        import numpy

        allowed += [(numpy_scalar, name) for name in NUMPY_SCALAR_NAMES] + [numpy.dtype]
        # a pickled dtype is rebuilt, then its state set, on its class (numpy.dtypes.Float64DType, ...)
        allowed += list({type(numpy.dtype(code)) for code in "?bBhHiIlLqQefdgFDG"} - {numpy.dtype})
    safe_globals = getattr(torch.serialization, "safe_globals", None)  # torch >= 2.5
    return safe_globals(allowed) if safe_globals else nullcontext()


def _numpy_scalar():
    try:
        from numpy._core.multiarray import scalar  # numpy 2
    except ImportError:
        try:
            from numpy.core.multiarray import scalar
        except ImportError:
            return None
    return scalar


def _needed_global(path: Path, error: Exception, is_zip: bool) -> str | None:
    if is_zip and hasattr(torch.serialization, "get_unsafe_globals_in_checkpoint"):
        try:
            names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
            unknown = [name for name in names if name not in HARMLESS_GLOBALS]
            if unknown:
                return ", ".join(unknown[:5])
        except Exception:  # the error message below still names it
            log.debug("could not list the globals of %s", path, exc_info=True)
    match = re.search(r"GLOBAL ([\w.]+)|but got <class '([\w.]+)'>", str(error))
    return (match.group(1) or match.group(2)) if match else None


def _refusal(path: Path, needed: str | None) -> str:
    what = (f"it needs the Python object(s) {needed} to be rebuilt" if needed else
            "it uses pickle instructions that only files which run code need")
    return (f"Refused to load {path}: {what}, and unpickling that would let the file run code on this machine. "
            f"Latentloom reads only plain tensors from .ckpt/.pt/.pth/.bin files. Use the .safetensors version of "
            f"this model if its publisher offers one; or, only if you trust where the file came from, convert it once "
            f"in a separate Python session: sd = torch.load(path, weights_only=False); "
            f"safetensors.torch.save_file(sd.get('state_dict', sd), 'model.safetensors').")


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
