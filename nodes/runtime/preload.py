"""Load what a first text-to-image run needs before it is asked for: torch, our UNet, VAE and CLIP text models, the
checkpoint loader, the sampler runtime, the CLIP tokenizer and the PNG writer with Pillow.

The server answers HTTP before any of these are imported (together they take seconds on a small machine), then
calls `preload` on a background thread, so a user who presses Queue a moment later finds them ready and the first
run costs what a warm run costs plus reading the checkpoint. A prompt that arrives sooner runs once the step under
way ends (the server's worker sets `stop`): it imports what it needs itself, never more than the rest of the list. A
step that fails is logged as a warning with its reason and changes nothing else: the first run imports what it needs
itself and reports any real problem as a run error.

The steps run with Python's cyclic collector paused: imports make hundreds of thousands of objects that live as long
as the process and next to no garbage, and with the collector on, each burst of them set off collections that walked
everything imported so far (the server's first answer waits for torch: bench/startup.py's HTTP ready went from
1.64-1.81 s to 1.28-1.38 s with the pause).
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from graph_engine.gcpause import gc_paused

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreloadStep:
    """One thing to load ahead: a name for the log and the call that loads it."""

    name: str
    run: Callable[[], object]


@dataclass
class PreloadReport:
    """What `preload` did: the steps that finished, those that failed with their reasons, whether it was stopped early,
    and the time it took."""

    seconds: float = 0.0
    loaded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    stopped: bool = False  # told to stop before the last step


def import_step(module: str) -> PreloadStep:
    return PreloadStep(module, lambda: importlib.import_module(module))


def _build_tokenizer() -> object:
    from .text.tokens import clip_tokenizer

    return clip_tokenizer()


# in the order a run meets them; each import pulls in what it builds on
FIRST_RUN_STEPS: tuple[PreloadStep, ...] = (
    import_step("torch"),
    import_step("nodes.runtime.devices"),
    import_step("nodes.runtime.models.unet_model"),
    import_step("nodes.runtime.models.autoencoder"),
    import_step("nodes.runtime.models.clip_text_model"),
    import_step("nodes.runtime.models.estimates"),
    import_step("nodes.runtime.loading"),
    import_step("torch.utils._device"),  # what the loader's first `with torch.device("meta")` imports
    import_step("nodes.runtime.text.encode"),
    PreloadStep("the CLIP tokenizer", _build_tokenizer),
    import_step("nodes.runtime.sampling"),
    import_step("nodes.runtime.sample_latent"),
    import_step("nodes.runtime.step_previews"),  # KSampler's progress reporter, imported on its first call
    import_step("nodes.runtime.guidance.cfg"),
    import_step("nodes.images.png_writer"),
    import_step("PIL.PngImagePlugin"),  # the writer's text chunks, imported on its first call
    import_step("nodes.images.png_encoder"),
    import_step("isal.isal_zlib"),  # the encoder's deflate, imported on its first call
    import_step("nodes.a1111.infotext_writer"),
    import_step("model_library.hashes"),
)


def preload(steps: Sequence[PreloadStep] = FIRST_RUN_STEPS, stop: threading.Event | None = None) -> PreloadReport:
    """Run each step in order; a failing step is logged and skipped, never raised. Once `stop` is set (a prompt is
    waiting, which imports what it needs itself, or the server is shutting down) no further step starts."""
    report = PreloadReport()
    started = time.perf_counter()
    with gc_paused():
        for step in steps:
            if stop is not None and stop.is_set():
                report.stopped = True
                break
            try:
                step.run()
            except Exception as error:  # a broken install shows up here first: say so, and let the run report it
                reason = f"{type(error).__name__}: {error}"
                report.failed[step.name] = reason
                log.warning("could not load %s ahead of the first run (%s); the first run will load it itself",
                            step.name, reason)
            else:
                report.loaded.append(step.name)
    report.seconds = time.perf_counter() - started
    done = ", ".join(report.loaded) or "nothing"
    if report.stopped:
        log.info("stopped loading ahead after %.1f s (a prompt came first, or the server is stopping): %s",
                 report.seconds, done)
    else:
        log.info("loaded ahead of the first run in %.1f s: %s%s", report.seconds, done,
                 f" ({len(report.failed)} failed)" if report.failed else "")
    return report
