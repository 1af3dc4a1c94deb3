"""Per-step previews that never make the sampler wait for the device.

Reading a GPU tensor on the host waits for every kernel queued before it, so a preview read each step would idle the
GPU once per step. Here each step's preview is projected to RGB on the device and copied to pinned host memory
without waiting; it is handed on at a later step, once its copy has landed (an event says so), and dropped if
newer ones overtake it. On the CPU the copy is done at once, so every step hands on its own preview.
"""
from __future__ import annotations

from collections import deque
from typing import Any

import torch

IN_FLIGHT = 2  # previews whose copies may still be under way; older ones are dropped, not waited for


class StepPreviews:
    """The newest preview whose copy to the host has finished, as a PIL image (or None), one call per step."""

    def __init__(self, latent_format: Any) -> None:
        self.latent_format = latent_format
        self._in_flight: deque[tuple[torch.Tensor, Any]] = deque()

    def step(self, denoised: torch.Tensor) -> Any:
        """Start this step's preview; return the newest finished one (this step's on the CPU)."""
        self._in_flight.append(self._start(denoised))
        ready = None
        while self._in_flight and _landed(self._in_flight[0][1]):
            ready = self._in_flight.popleft()[0]
        while len(self._in_flight) > IN_FLIGHT:
            self._in_flight.popleft()
        if ready is None:
            return None
        from PIL import Image

        return Image.fromarray(ready.numpy())

    def _start(self, denoised: torch.Tensor) -> tuple[torch.Tensor, Any]:
        rgb = self.latent_format.preview_rgb_on_device(denoised)
        if rgb.device.type != "cuda":
            return rgb.cpu(), None  # the CPU (or a device without events): the copy is done when it returns
        host = torch.empty(rgb.shape, dtype=rgb.dtype, pin_memory=True)
        host.copy_(rgb, non_blocking=True)
        landed = torch.cuda.Event()
        landed.record()
        return host, landed


def _landed(event: Any) -> bool:
    return event is None or event.query()
