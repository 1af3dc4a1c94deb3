"""The process-wide ModelManager: start-up requests its settings from the CLI flags, nodes ask for it."""
from __future__ import annotations

import logging
import threading

from .manager import ModelManager
from .settings import DeviceSettings, requested_device_settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
_manager: ModelManager | None = None


def configure_devices(settings: DeviceSettings) -> ModelManager:
    """Replace the process-wide manager; models the old one held are unloaded first, since the new one does not
    know them."""
    global _manager
    with _lock:
        old, _manager = _manager, _built(settings)
        manager = _manager
    if old is not None:
        old.free()
    return manager


def model_manager() -> ModelManager:
    """The process-wide manager, built on first use from the settings start-up requested."""
    global _manager
    with _lock:
        if _manager is None:
            _manager = _built(requested_device_settings())
        return _manager


def _built(settings: DeviceSettings) -> ModelManager:
    manager = ModelManager(settings)
    log.info("devices: compute %s, offload %s, mode %s, weights %s", manager.compute_device,
             manager.offload_device, settings.mode, manager.weight_dtype())
    return manager
