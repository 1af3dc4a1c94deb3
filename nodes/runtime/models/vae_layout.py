"""Choosing the memory layout of a VAE part (decoder or encoder), channels-last or contiguous, by measuring once per
device, dtype and size.

On a CPU, oneDNN's convolutions usually run faster on channels-last (NHWC) weights and activations: by 3 to 30% for
the VAE here, most at the largest sizes, but not at every size (a small encode can lose), and a GPU differs again.
On a CPU the weights' layout decides the convolution's (an NCHW input to channels-last weights gives a channels-last
output), so a layout is the part's weights plus its input. The first call of a new size times the part in both
layouts on a band of latent rows at the real width (the whole latent when small, so the probe stays a few small
decodes at any size) and keeps the faster, unless the first run, in channels-last, shows the call too short for the
other to be worth timing (WORTH_PROBING_SECONDS); when the band is the whole sample, the chosen layout's probe output
is the call's result. Later calls of that size pay nothing, or one conversion of the part's weights when the previous
size chose the other layout. The choice is made before the first real call (or with it, in the layout chosen), so
every call of one size computes the same way (the two layouts differ by float round-off only).
"""
from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .probe_timing import best_times

log = logging.getLogger(__name__)

PROBE_LATENT_PIXELS = 256  # the band timed: a 128 x 128 px image's latent, or that many pixels of rows at full width
PROBE_ROUNDS = 2  # each round runs both layouts once; the first is a warm-up unless its runs were long (probe_timing)
# A call whose first run, in channels-last, takes less than this keeps channels-last untimed against contiguous: the
# other layout could save a few milliseconds a call at most, while timing it would add one to three runs to the first
# image (the demo model's VAE at small sizes on a CPU). Channels-last is the one kept: oneDNN's CPU convolutions are
# built for it, and the demo VAE ran faster in it at every size bench/pipeline.py --parts c timed.
WORTH_PROBING_SECONDS = 0.02


def is_channels_last(part: torch.nn.Module) -> bool:
    """Whether the part's 4-d weights are channels-last (the format `part.to(memory_format=...)` last gave them)."""
    weight = _first_convolution(part).weight
    return weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def set_layout(part: torch.nn.Module, channels_last: bool) -> None:
    """Convert the part's 4-d weights to the layout (a copy of each, only when it is not in it already)."""
    if is_channels_last(part) != channels_last:
        part.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def in_layout(tensor: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """`tensor` [B, C, H, W] in the layout (itself when it already is)."""
    return tensor.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def probe_band(sample_shape: tuple[int, ...], downscale: int, latent_width: int) -> tuple[int, ...]:
    """The probe's input shape: the full width and as many rows as PROBE_LATENT_PIXELS allows (at least 2 latent rows),
    at the input's scale (`downscale` pixels per latent row for pixels, 1 for latents)."""
    latent_rows = sample_shape[-2] // downscale
    rows = min(latent_rows, max(2, PROBE_LATENT_PIXELS // max(latent_width, 1)))
    return (*sample_shape[:-2], rows * downscale, sample_shape[-1])


@dataclass(frozen=True)
class Probed:
    """What a probe found: whether channels-last was faster, and the part's output for the probed input in that
    layout."""

    channels_last: bool
    output: object


def faster_layout(part: torch.nn.Module, run: Callable[[torch.Tensor], object], sample: torch.Tensor,
                  worth_seconds: float = 0.0) -> Probed:
    """Time `run(sample)` with the part in each layout, alternating, channels-last first, and return which was faster
    with its output; the part is left in the faster one. When the first run takes under `worth_seconds`, channels-last
    is kept without timing contiguous (probe_timing.best_times)."""
    outputs: dict[bool, object] = {}

    def prepared(channels_last: bool) -> Callable[[], object]:
        set_layout(part, channels_last)
        data = in_layout(sample, channels_last)

        def call() -> None:
            outputs[channels_last] = run(data)
        return call

    with torch.no_grad():
        best = best_times((True, False), prepared, sample.device, PROBE_ROUNDS, worth_seconds)
    chosen = best[True] < best[False]
    set_layout(part, chosen)
    log.debug("VAE layout on %s for %s: contiguous %s, channels-last %s -> %s", sample.device, tuple(sample.shape),
              _described(best[False]), _described(best[True]), "channels-last" if chosen else "contiguous")
    return Probed(chosen, outputs[chosen])


class LayoutChooser:
    """Remembers the faster layout per (part, its architecture, device, dtype, input shape) and puts the part in
    it."""

    def __init__(self, choices: dict[tuple, bool] | None = None,
                 worth_probing_seconds: float = WORTH_PROBING_SECONDS) -> None:
        self.choices = {} if choices is None else choices  # a loader passes the ones its devices share
        self.worth_probing_seconds = worth_probing_seconds  # for the whole sample; a band's share is scaled down
        # each part's _architecture, found once, not by counting its weights on every decode and encode
        self._architectures: weakref.WeakKeyDictionary[torch.nn.Module, tuple] = weakref.WeakKeyDictionary()

    def prepare(self, part_name: str, part: torch.nn.Module, run: Callable[[torch.Tensor], object],
                sample: torch.Tensor, downscale: int, latent_width: int) -> tuple[torch.Tensor, object | None]:
        """`sample` in the layout chosen for its shape (measured on the first call of that shape, on a band of it
        run through `run`), with the part's weights in that layout too; and `run`'s output for it when the probe has
        computed it already (a sample no larger than the band is probed itself, in both layouts, so its first call
        does not run the part a third time)."""
        weight = _first_convolution(part).weight
        if part not in self._architectures:
            self._architectures[part] = _architecture(part)
        key = (part_name, self._architectures[part], weight.device, weight.dtype, tuple(sample.shape))
        output = None
        if key not in self.choices:
            band_shape = probe_band(tuple(sample.shape), downscale, latent_width)
            whole = band_shape == tuple(sample.shape)
            band = sample if whole else torch.randn(band_shape, device=sample.device, dtype=sample.dtype)
            worth_seconds = self.worth_probing_seconds * band_shape[-2] / sample.shape[-2]
            probed = faster_layout(part, run, band, worth_seconds)
            self.choices[key] = probed.channels_last
            output = probed.output if whole else None
        channels_last = self.choices[key]
        set_layout(part, channels_last)
        return in_layout(sample, channels_last), output


def _described(seconds: float) -> str:
    return "not timed" if seconds == float("inf") else f"{seconds * 1000:.1f} ms"


def _architecture(part: torch.nn.Module) -> tuple:
    """What tells two VAE parts' speeds apart once shared choices meet several VAEs: the first convolution's shape
    and the number of weights."""
    return tuple(_first_convolution(part).weight.shape), sum(parameter.numel() for parameter in part.parameters())


def _first_convolution(part: torch.nn.Module) -> torch.nn.Conv2d:
    return next(module for module in part.modules() if isinstance(module, torch.nn.Conv2d))
