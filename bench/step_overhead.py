"""What a sampling step costs beyond the UNet (issue 18, point 5): the interrupt checks, the progress callback and
the preview, each switched on in turn, against bench/pipeline.py's bare euler + CFG loop on the same modules.

Rows, each run interleaved with the others (same model without patches, same seed, sigmas and noise):

  bare loop           bench/pipeline.py's bare_euler_cfg (the UNet carries its interrupt pre-hooks: outside a node
                      they find no context and return)
  sampler             sample_latent (what the KSampler node runs): guidance, sampler, schedule; no callback, no node
  + interrupt checks  the same inside a node's context: each UNet block part's pre-hook tests the interrupt flag
  + progress          and a progress event per step (context.progress, which checks the interrupt flag too)
  + preview           and the latent-to-RGB preview per step (the KSampler node's own callback)

Per step, in ms and against the row above. The checkpoint is the demo model (tiny: fixed costs show) unless
--checkpoint names another single file.

Then the sampler's own cost, steadier than any difference of two UNet-bound timings: the same two loops over a
stand-in UNet that computes nothing, at 2 and at 10 steps, which splits it into a cost per call (sigmas, noise,
guider, model preparation) and a cost per step (guidance, parameterization, the sampler's update).

    .venv/bin/python bench/step_overhead.py [--size 64] [--steps 10] [--repeat 15] [--threads 1] [--checkpoint F]
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sys

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402

from pipeline import CFG, SEED, bare_euler_cfg, interleaved, print_table, sampler_case  # noqa: E402


def in_node_context(action: Callable[[object], object]) -> Callable[[], object]:
    """`action(context)` run inside a node's context, as the engine runs a KSampler (events go nowhere)."""
    from graph_engine import EventStream
    from graph_engine.context import NodeContext, enter_context, leave_context

    context = NodeContext("bench", "3", "KSampler", EventStream(), threading.Event())

    def run() -> object:
        token = enter_context(context)
        try:
            return action(context)
        finally:
            leave_context(token)

    return run


class StandInUnet(torch.nn.Module):
    """A UNet that computes next to nothing (its output is its input, halved): what a sampling call then costs is the
    sampler's own work. It has what the model's preparation reads: a first convolution (device, dtype), the config,
    and block lists for the interrupt hooks (empty)."""

    def __init__(self, config: object) -> None:
        super().__init__()
        self.config = config
        self.conv_in = torch.nn.Conv2d(4, 4, 1)
        self.down_blocks, self.up_blocks, self.mid_block = torch.nn.ModuleList(), torch.nn.ModuleList(), None

    def forward(self, x: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor, **_conditioning) -> torch.Tensor:
        return x * 0.5


def sampler_own_cost(case, size: int, repeat: int) -> dict[str, float]:
    """Seconds of (sampler - bare loop) per call and per step, both over StandInUnet, from runs of 2 and 10 steps."""
    import dataclasses

    from nodes.runtime.sample_latent import sample_latent
    from nodes.runtime.sampling import initial_noise, is_max_denoise, ksampler_sigmas

    model = dataclasses.replace(case.model, unet=StandInUnet(case.model.unet.config))
    latent = {"samples": torch.zeros(1, 4, size // 8, size // 8)}
    noise = initial_noise(latent["samples"], SEED)
    context = torch.cat([case.positive[0][0], case.negative[0][0]])
    actions = {}
    for steps in (2, 10):
        sigmas = ksampler_sigmas(model.schedule, "normal", steps, 1.0, "euler")
        actions[f"bare {steps}"] = lambda sigmas=sigmas: bare_euler_cfg(
            model.unet, model.schedule.log_sigmas, sigmas, noise, context, CFG, is_max_denoise(model.schedule, sigmas))
        actions[f"sampler {steps}"] = lambda steps=steps: sample_latent(
            model, latent, case.positive, case.negative, seed=SEED, steps=steps, cfg=CFG, sampler_name="euler",
            scheduler="normal")
    times = interleaved(repeat, actions, min_seconds=2.0, max_rounds=2000)
    extra = {steps: times[f"sampler {steps}"] - times[f"bare {steps}"] for steps in (2, 10)}
    per_step = (extra[10] - extra[2]) / 8
    return {"per step": per_step, "per call": extra[2] - 2 * per_step}


def checks_per_step(unet: torch.nn.Module) -> int:
    """Interrupt pre-hooks one UNet call runs (one per block part; big attentions and convolutions add more)."""
    from nodes.runtime.models.interrupts import check_interrupt

    return sum(1 for module in unet.modules() for hook in module._forward_pre_hooks.values()
               if hook is check_interrupt)


def one_check_seconds() -> float:
    """The cost of one interrupt check inside a node's context."""
    from nodes.runtime.models.interrupts import check_interrupt

    def many(_context: object) -> float:
        started = time.perf_counter()
        for _ in range(100_000):
            check_interrupt()
        return (time.perf_counter() - started) / 100_000

    return in_node_context(many)()


def callback_seconds(make_callback: Callable[[object], Callable], denoised: torch.Tensor, calls: int = 2000) -> float:
    """The cost of one call of a per-step callback (made inside a node's context by `make_callback(context)`)."""
    def many(context: object) -> float:
        callback = make_callback(context)
        started = time.perf_counter()
        for step in range(calls):
            callback(step + 1, calls, denoised)
        return (time.perf_counter() - started) / calls

    return in_node_context(many)()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: less noise on a shared machine)")
    parser.add_argument("--checkpoint", type=Path, help="a single-file SD checkpoint (default: the demo model)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from graph_engine import Folders, using_folders
    from nodes.diffusion.sampling import progress_reporter
    from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME, write_demo_checkpoint
    from nodes.runtime.sample_latent import sample_latent
    from nodes.runtime.sampling import is_max_denoise, ksampler_sigmas

    with tempfile.TemporaryDirectory(prefix="latentloom-step-overhead-") as temporary:
        path = args.checkpoint or write_demo_checkpoint(Path(temporary) / DEMO_CHECKPOINT_NAME)
        with using_folders(Folders.under(Path(temporary))):
            case, _ = sampler_case(path)
    model, steps = case.model, args.steps
    latent = {"samples": torch.zeros(1, 4, args.size // 8, args.size // 8)}

    def sample(on_step=None) -> object:
        return sample_latent(model, latent, case.positive, case.negative, seed=SEED, steps=steps, cfg=CFG,
                             sampler_name="euler", scheduler="normal", on_step=on_step)

    sample()  # puts the UNet on its device with its interrupt hooks, as a KSampler run does
    from nodes.runtime.sampling import initial_noise

    sigmas = ksampler_sigmas(model.schedule, "normal", steps, 1.0, "euler").to(model.device)
    noise = initial_noise(latent["samples"], SEED).to(model.device)
    context = torch.cat([case.positive[0][0], case.negative[0][0]])
    actions = {
        "bare loop": lambda: bare_euler_cfg(model.unet, model.schedule.log_sigmas.to(model.device), sigmas, noise,
                                            context, CFG, is_max_denoise(model.schedule, sigmas)),
        "sampler": lambda: sample(),
        "+ interrupt checks": in_node_context(lambda _c: sample()),
        "+ progress": in_node_context(lambda c: sample(lambda step, total, _denoised: c.progress(step, total))),
        "+ preview": in_node_context(lambda _c: sample(progress_reporter(model))),
    }
    times = interleaved(args.repeat, actions)
    rows, previous = [], None
    for name, seconds in times.items():
        per_step = seconds / steps * 1000
        rows.append([name, f"{per_step:.3f}", "" if previous is None else f"{per_step - previous:+.3f}",
                     f"{seconds / times['bare loop']:.3f}x"])
        previous = per_step
    print_table(f"per-step cost, euler, cfg {CFG}, {args.size} px, {steps} steps, {path.name} on {model.device}, "
                f"{torch.get_num_threads()} thread(s); median of {args.repeat} interleaved",
                ["", "ms/step", "vs row above", "vs bare loop"], rows)
    checks = checks_per_step(model.unet)
    denoised = torch.randn(1, 4, args.size // 8, args.size // 8)
    progress = callback_seconds(lambda c: lambda step, total, _d: c.progress(step, total), denoised)
    preview = callback_seconds(lambda _c: progress_reporter(model), denoised)
    print_table("each part alone, called in a loop (steadier than the differences above, which are within the noise "
                "when smaller than the spread of repeated runs)",
                ["part", "per call", "calls per step", "ms/step"],
                [["interrupt check (UNet pre-hook, in a node)", f"{one_check_seconds() * 1e6:.2f} us", str(checks),
                  f"{checks * one_check_seconds() * 1000:.3f}"],
                 ["progress event (context.progress)", f"{progress * 1e6:.1f} us", "1", f"{progress * 1000:.3f}"],
                 ["progress + preview (the KSampler's callback)", f"{preview * 1e6:.1f} us", "1",
                  f"{preview * 1000:.3f}"]])
    own = sampler_own_cost(case, args.size, args.repeat)
    bare_step = times["bare loop"] / steps
    print_table(f"the sampler's own cost beyond the bare loop, both over a stand-in UNet that computes nothing "
                f"(euler, cfg {CFG}, {args.size} px; from 2- and 10-step runs)",
                ["", "ms", f"share of the bare loop at {steps} steps"],
                [["per step", f"{own['per step'] * 1000:.3f}", f"{own['per step'] / bare_step:.1%}"],
                 ["per call", f"{own['per call'] * 1000:.3f}", f"{own['per call'] / times['bare loop']:.1%}"],
                 ["in all", "", f"{(own['per step'] * steps + own['per call']) / times['bare loop']:.1%}"]])


if __name__ == "__main__":
    main()
