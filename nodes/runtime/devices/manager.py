"""One record of the models loaded per device: keeps them resident between runs and moves the least recently
used ones to the offload device when a new one would not fit in the compute device's free memory minus a reserve."""
from __future__ import annotations

import logging
import threading
import weakref
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import torch
from torch.utils.hooks import RemovableHandle

from .denormals import flush_denormals
from .lowvram import install_streaming_hooks, remove_streaming_hooks
from .memory import empty_cache, free_device_memory, module_bytes, same_device
from .settings import DeviceSettings

log = logging.getLogger(__name__)

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class ResidentModel:
    """One tracked model as /system_stats shows it; a higher `last_used` means used more recently."""

    name: str
    nbytes: int
    device: torch.device
    last_used: int


@dataclass(eq=False)
class _Entry:
    module: weakref.ref
    name: str
    nbytes: int
    on_compute: bool = False
    last_used: int = 0
    hooks: list[RemovableHandle] | None = None  # set while the model streams its weights (lowvram)


def default_compute_device(mode: str) -> torch.device:
    """The first CUDA device (else MPS) unless --cpu; the CPU when there is no accelerator."""
    if mode != "cpu":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        if mode in ("gpu_only", "lowvram"):
            log.warning("--%s asked for, but no GPU is available: running on the CPU", mode.replace("_", "-"))
    return torch.device("cpu")


class ModelManager:
    """Decides where model weights live and moves them; `use` before running a model, `free` to unload all."""

    def __init__(self, settings: DeviceSettings = DeviceSettings(), *, compute_device: torch.device | None = None,
                 offload_device: torch.device | None = None,
                 free_memory: Callable[[torch.device], int] | None = None) -> None:
        self.settings = settings
        self.compute_device = torch.device(compute_device) if compute_device else default_compute_device(settings.mode)
        self.offload_device = torch.device(offload_device) if offload_device else torch.device("cpu")
        self._free_memory = free_memory or free_device_memory
        self._entries: dict[int, _Entry] = {}
        self._clock = 0
        self._lock = threading.RLock()
        self._warned_dtype = False
        # what was timed fastest on these devices, by chooser name then shape: shared by every model loaded here, so
        # loading a model again (or another of the same shape) neither times it again nor computes another way
        self.timed_choices: defaultdict[str, dict] = defaultdict(dict)

    # -- policy -------------------------------------------------------------------------------------------------

    def weight_dtype(self) -> torch.dtype:
        """float32 whenever the CPU computes (half precision there is slow or unsupported); fp16 on an
        accelerator unless --dtype asks otherwise."""
        asked = self.settings.dtype
        if self.compute_device.type == "cpu":
            if asked in ("fp16", "bf16") and not self._warned_dtype:
                self._warned_dtype = True
                log.warning("--dtype %s ignored: the CPU computes in float32", asked)
            return torch.float32
        return _DTYPES.get(asked, torch.float16)

    def load_device(self, nbytes: int) -> torch.device:
        """Where a model of `nbytes` should be filled when loaded: straight onto the compute device when it fits
        (evicting least recently used models if that makes room), else the offload device, to be moved by `use`."""
        mode = self.settings.mode
        if mode in ("gpu_only", "cpu"):
            return self.compute_device
        if mode == "lowvram":
            return self.offload_device
        with self._lock:
            return self.compute_device if self._make_room(nbytes, keep=()) else self.offload_device

    # -- bookkeeping --------------------------------------------------------------------------------------------

    def track(self, module: torch.nn.Module, name: str) -> None:
        """Register a loaded model. Held weakly: once the rest of the program drops it, the manager forgets it."""
        with self._lock:
            self._forget_dropped()
            key = id(module)
            entry = self._entries.get(key)
            if entry is not None and entry.module() is module:
                entry.name = name
                return
            on_compute = not self._devices_alike() and same_device(_device_of(module), self.compute_device)
            self._entries[key] = _Entry(weakref.ref(module), name, module_bytes(module),
                                        on_compute=on_compute)

    def resident(self) -> list[ResidentModel]:
        """The models held on the compute device, most recently used first."""
        with self._lock:
            return [self._report(entry) for entry in self._by_recent_use() if entry.on_compute]

    def tracked(self) -> list[ResidentModel]:
        """Every tracked model, wherever it is, most recently used first."""
        with self._lock:
            return [self._report(entry) for entry in self._by_recent_use()]

    # -- moving -------------------------------------------------------------------------------------------------

    def use(self, *modules: torch.nn.Module) -> None:
        """Make `modules` ready to run on the compute device and mark them most recently used, evicting other
        models if they would not fit. In --lowvram (or when one cannot fit at all) the model stays on the offload
        device and streams each submodule's weights in for its forward."""
        if self.compute_device.type == "cpu":
            flush_denormals()  # this is called on the thread about to compute
        with self._lock:
            entries = [self._entry_for(module) for module in modules]
            for entry in entries:
                self._clock += 1
                entry.last_used = self._clock
            mode = self.settings.mode
            if mode == "lowvram":
                for module, entry in zip(modules, entries):
                    self._stream(module, entry)
                return
            missing = [(m, e) for m, e in zip(modules, entries) if not e.on_compute]
            if not missing:
                return
            keep = {id(m) for m in modules}
            if mode == "auto" and not self._make_room(sum(e.nbytes for _, e in missing), keep=keep):
                for module, entry in missing:
                    if entry.hooks is None:  # say it once, not on every use
                        log.warning("%s (%.0f MiB) does not fit on %s: streaming its weights layer by layer",
                                    entry.name, entry.nbytes / 2**20, self.compute_device)
                    self._stream(module, entry)
                return
            for module, entry in missing:
                self._move_to_compute(module, entry)

    def free(self) -> None:
        """Unload every model: move it to the offload device (or drop its streaming hooks) and empty the cache."""
        with self._lock:
            for entry in list(self._entries.values()):
                module = entry.module()
                if module is not None:
                    self._offload(module, entry)
        empty_cache(self.compute_device)

    module_bytes = staticmethod(module_bytes)

    # -- internals ----------------------------------------------------------------------------------------------

    def _make_room(self, nbytes: int, keep) -> bool:
        """Evict least recently used models (not in `keep`) until `nbytes` fits the budget; evicts nothing and
        returns False when even evicting them all would not be enough."""
        budget = self._free_memory(self.compute_device) - self.settings.reserve_bytes
        if nbytes <= budget:
            return True
        victims = [e for e in reversed(self._by_recent_use()) if e.on_compute and id(e.module()) not in keep]
        if nbytes > budget + sum(e.nbytes for e in victims):
            return False
        for entry in victims:
            module = entry.module()
            if module is None:
                continue
            log.info("moving %s (%.0f MiB) to %s to make room", entry.name, entry.nbytes / 2**20, self.offload_device)
            self._offload(module, entry)
            budget += entry.nbytes
            if nbytes <= budget:
                break
        empty_cache(self.compute_device)
        return True

    def _move_to_compute(self, module: torch.nn.Module, entry: _Entry) -> None:
        if entry.hooks is not None:
            remove_streaming_hooks(entry.hooks)
            entry.hooks = None
        module.to(self.compute_device)
        entry.on_compute = True

    def _offload(self, module: torch.nn.Module, entry: _Entry) -> None:
        if entry.hooks is not None:
            remove_streaming_hooks(entry.hooks)
            entry.hooks = None
        module.to(self.offload_device)
        entry.on_compute = False

    def _stream(self, module: torch.nn.Module, entry: _Entry) -> None:
        if entry.hooks is None:  # installed once, however often the model is used
            entry.hooks = install_streaming_hooks(module, self.compute_device, self.offload_device)
            entry.on_compute = False

    def _entry_for(self, module: torch.nn.Module) -> _Entry:
        entry = self._entries.get(id(module))
        if entry is None or entry.module() is not module:
            self.track(module, type(module).__name__)
            entry = self._entries[id(module)]
        return entry

    def _forget_dropped(self) -> None:
        """Drop the records of models the program no longer holds. Done here, not in a weakref callback, which
        could run in the middle of another method's loop over the records."""
        for key in [key for key, entry in self._entries.items() if entry.module() is None]:
            del self._entries[key]

    def _by_recent_use(self) -> list[_Entry]:
        self._forget_dropped()
        live = [e for e in self._entries.values() if e.module() is not None]
        return sorted(live, key=lambda e: e.last_used, reverse=True)

    def _report(self, entry: _Entry) -> ResidentModel:
        device = self.compute_device if entry.on_compute else self.offload_device
        return ResidentModel(entry.name, entry.nbytes, device, entry.last_used)

    def _devices_alike(self) -> bool:
        return same_device(self.compute_device, self.offload_device)


def _device_of(module: torch.nn.Module) -> torch.device:
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")
