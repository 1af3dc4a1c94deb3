"""KSampler on the CPU with the C heap as the engine sets it up (freed memory kept for the node's next steps and
handed back when the node returns) against glibc's defaults (blocks over 32 MiB mapped and unmapped each time).

Each side runs in its own process, alternating (default, kept, default, kept ...), on the large SD1-shaped
checkpoint of bench/pipeline.py: the KSampler node at each size, the heap trimmed after each call as the engine
does (when 64 MiB or more are free). Prints the median seconds per call, the ratio kept / default, and each side's peak RSS.

    .venv/bin/python bench/host_heap.py [--sizes 64 128 256] [--steps 4] [--repeat 3] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIDES = ("default", "kept")


def child(side: str, checkpoint: Path, sizes: list[int], steps: int, repeat: int) -> dict:
    """One side: load the checkpoint as CheckpointLoaderSimple does, then time the KSampler node per size."""
    from nodes.runtime.devices.host_heap import TRIM_WHEN_FREE_BYTES, keep_freed_memory, return_freed_memory

    if side == "kept":
        keep_freed_memory()
    import torch

    from bench.pipeline import CFG, SEED, rss_status, sampler_case
    from graph_engine import Folders, using_folders
    from nodes.diffusion.sampling import KSampler

    with using_folders(Folders.under(Path(tempfile.mkdtemp()))):  # the loader looks for embeddings there (none)
        case, _ = sampler_case(checkpoint)
    node = KSampler()
    seconds = {}
    for size in sizes:
        latent = {"samples": torch.zeros(1, 4, size // 8, size // 8)}
        times = []
        for _ in range(repeat + 1):  # the first call also pays the sampler's own first-use costs
            started = time.perf_counter()
            node.sample(case.model, SEED, steps, CFG, "euler", "normal", case.positive, case.negative, latent)
            return_freed_memory(at_least=TRIM_WHEN_FREE_BYTES)  # as the engine does after a node, on both sides
            times.append(time.perf_counter() - started)
        seconds[size] = statistics.median(times[1:])
    return {"seconds": seconds, "peak": rss_status()["VmHWM"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "latentloom-bench-pipeline")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.checkpoint, args.sizes, args.steps, args.repeat)))
        return

    from bench.pipeline import ensure_checkpoints

    args.work_dir.mkdir(parents=True, exist_ok=True)
    large = ensure_checkpoints(args.work_dir)["large"]
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    for _ in range(args.rounds):
        for side in SIDES:
            done = subprocess.run([sys.executable, __file__, "--child", side, "--checkpoint", str(large),
                                   "--steps", str(args.steps), "--repeat", str(args.repeat),
                                   "--sizes", *map(str, args.sizes)], capture_output=True, text=True, check=True)
            runs[side].append(json.loads(done.stdout.strip().splitlines()[-1]))

    print(f"KSampler node, {args.steps} steps, large checkpoint, CPU: the heap kept within a node vs glibc's "
          f"defaults (medians of {args.rounds} processes per side, {args.repeat} calls each)")
    print(f"  {'size':>6} {'default s':>10} {'kept s':>8} {'kept/default':>13}")
    for size in map(str, args.sizes):  # JSON keys are strings
        default, kept = (statistics.median(run["seconds"][size] for run in runs[side]) for side in SIDES)
        print(f"  {size + ' px':>6} {default:10.3f} {kept:8.3f} {kept / default:12.2f}x")
    default_peak, kept_peak = (statistics.median(run["peak"] for run in runs[side]) for side in SIDES)
    print(f"  peak RSS: default {default_peak / 1e9:.2f} GB, kept {kept_peak / 1e9:.2f} GB "
          f"({kept_peak / default_peak:.2f}x)")


if __name__ == "__main__":
    main()
