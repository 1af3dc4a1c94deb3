"""The cost of a model patch per sampling step: FreeU (output block patches: the UNet walked block by block, an FFT
per patched skip) and RescaleCFG (a cfg function) against the same step on the unpatched MODEL, in one run.

Run: .venv/bin/python bench/model_patch_step.py [--channels 64] [--size 32] [--steps 4] [--repeat 5] [--threads N]
Builds an SD1-shaped UNet with random weights (four levels of channels x (1, 2, 4, 4), two resnets each, attention on
the first three, 768-wide text context; SD1 itself is --channels 320) and samples a --size latent with euler at
cfg 7 through KSampler's code path. "walk only" is a no-op output block patch: the price of calling a patch at each
output block (the UNet always runs block by block), so FreeU's own share is the difference.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import print_table  # noqa: E402 (same folder)


def sd1_shaped_unet(channels: int) -> torch.nn.Module:
    from nodes.runtime.models.unet_model import UNetModel

    torch.manual_seed(0)
    return UNetModel(dict(
        block_out_channels=(channels, channels * 2, channels * 4, channels * 4), layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32)).eval()


def patched_models(model) -> dict[str, object]:
    from nodes.model_patches.freelunch import FreeU
    from nodes.model_patches.model_advanced import RescaleCFG

    walk_only = model.clone()
    walk_only.set_model_output_block_patch(lambda h, skip, options: (h, skip))
    return {"no patch": model, "walk only (no-op UNet patch)": walk_only,
            "FreeU (defaults)": FreeU().patch(model, 1.1, 1.2, 0.9, 0.2)[0],
            "RescaleCFG (0.7)": RescaleCFG().patch(model, 0.7)[0]}


def timed(action) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) that `action` takes; a GPU is synchronised on both sides. On a
    shared CPU the CPU seconds are the steadier measure (waiting for a core is not counted)."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    sync()
    return time.perf_counter() - wall, time.process_time() - cpu


def rotated_medians(repeat: int, actions: dict) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each action over `repeat` rounds after one untimed run each; the order turns
    every round, so that no action always runs first or right after the same other one."""
    for action in actions.values():
        action()
    names = list(actions)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for round_number in range(repeat):
        for name in names[round_number % len(names):] + names[:round_number % len(names)]:
            samples[name].append(timed(actions[name]))
    return {name: (statistics.median(wall for wall, _ in samples[name]),
                   statistics.median(cpu for _, cpu in samples[name])) for name in names}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64, help="the UNet's base width (SD1: 320)")
    parser.add_argument("--size", type=int, default=32, help="latent side in cells (pixels / 8)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="CPU threads; 1 on a CPU shared with other work (waiting threads spin and skew timings)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    from nodes.runtime.models import DiffusionModel
    from nodes.runtime.sample_latent import sample_latent

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = DiffusionModel(sd1_shaped_unet(args.channels).to(device), "SD1.x", "epsilon", "bench")
    generator = torch.Generator().manual_seed(1)
    positive = [[torch.randn(1, 77, 768, generator=generator), {}]]
    negative = [[torch.randn(1, 77, 768, generator=generator), {}]]
    latent = {"samples": torch.zeros(1, 4, args.size, args.size)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}; UNet base width "
          f"{args.channels}, latent {args.size}x{args.size}, euler {args.steps} steps, cfg 7")

    def run(view):
        return lambda: sample_latent(view, latent, positive, negative, seed=1, steps=args.steps, cfg=7.0,
                                     sampler_name="euler", scheduler="normal")

    seconds = rotated_medians(args.repeat, {name: run(view) for name, view in patched_models(model).items()})
    base_wall, base_cpu = seconds["no patch"]
    rows = [[name, f"{wall / args.steps * 1000:.1f}", f"{wall / base_wall:.3f}x", f"{cpu / args.steps * 1000:.1f}",
             f"{cpu / base_cpu:.3f}x"] for name, (wall, cpu) in seconds.items()]
    print_table(f"one sampling step (cond and uncond in one UNet call), median of {args.repeat} runs each",
                ["MODEL", "wall ms/step", "against no patch", "CPU ms/step", "against no patch"], rows)


if __name__ == "__main__":
    main()
