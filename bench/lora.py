"""LoRA costs against what users compare them with: applying, changing a strength and restoring against loading the
checkpoint, and a sampling step with a LoRA against one without.

Run: .venv/bin/python bench/lora.py [--rank 16] [--steps 4] [--repeat 5]
Uses the generated 1.5 GB SD1-shaped checkpoint of bench/pipeline.py (built on first use) and writes a kohya LoRA
on every attention projection of its UNet and text encoder.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline import ensure_checkpoints, interleaved, print_table, verdict  # noqa: E402 (same folder)

ATTENTION = ("to_q", "to_k", "to_v", "to_out_0", "q_proj", "k_proj", "v_proj", "out_proj")


def write_attention_lora(path: Path, unet: torch.nn.Module, text: torch.nn.Module, rank: int) -> int:
    """A kohya file with a rank-`rank` pair on every attention projection; returns the number of layers."""
    from nodes.runtime.lora.key_map import build_key_map, model_components

    components = model_components(unet, [text])
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for key, target in build_key_map(unet, [text]).items():
        if not key.startswith(("lora_unet_", "lora_te_")) or not key.endswith(ATTENTION):
            continue
        weight = components[target.component].get_submodule(target.module_name).weight
        if weight.ndim != 2 or f"{key}.alpha" in tensors:
            continue
        tensors[f"{key}.lora_down.weight"] = torch.randn(rank, weight.shape[1], generator=generator) * 0.01
        tensors[f"{key}.lora_up.weight"] = torch.randn(weight.shape[0], rank, generator=generator) * 0.01
        tensors[f"{key}.alpha"] = torch.tensor(float(rank))
    save_file({k: v.half() if v.ndim else v for k, v in tensors.items()}, str(path))
    return len(tensors) // 3


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "latentloom-bench-pipeline")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(torch.get_num_threads())
    from nodes.runtime.loading import load_checkpoint_models
    from nodes.runtime.lora.lora_file import read_lora
    from nodes.runtime.sample_latent import sample_latent

    args.work_dir.mkdir(parents=True, exist_ok=True)
    large = ensure_checkpoints(args.work_dir)["large"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{'cuda' if torch.cuda.is_available() else 'cpu'}")
    load_seconds = timed(lambda: load_checkpoint_models(large))  # warm the page cache and the imports
    load_seconds = min(load_seconds, timed(lambda: load_checkpoint_models(large)))
    model, clip, _ = load_checkpoint_models(large)
    lora_path = args.work_dir / f"bench-attention-lora-r{args.rank}.safetensors"
    layers = write_attention_lora(lora_path, model.unet, clip.text_encoders[0], args.rank)
    lora = read_lora(lora_path)
    print(f"checkpoint {large.name}: load (node path, float32 on the CPU) {load_seconds * 1000:.0f} ms; "
          f"LoRA rank {args.rank} on {layers} layers ({lora_path.stat().st_size / 1e6:.0f} MB)")

    full, half = model.with_lora(lora, 1.0), model.with_lora(lora, 0.5)
    model.prepare()
    apply = timed(full.prepare)
    change = timed(half.prepare)
    restore = timed(model.prepare)
    rows = [[name, f"{seconds * 1000:.0f}", f"{seconds / load_seconds * 100:.1f}%", target,
             verdict(seconds / load_seconds, 0.10) if target != "-" else "info"]
            for name, seconds, target in (("apply (first use)", apply, "-"),
                                          ("change strength (restore + apply)", change, "<= 10%"),
                                          ("restore the base", restore, "-"))]
    print_table("UNet patching against the checkpoint load", ["operation", "ms", "of load", "target", ""], rows)

    positive, negative = clip.encode("a cat"), clip.encode("")
    latent = {"samples": torch.zeros(1, 4, 8, 8)}

    def run(view):
        return lambda: sample_latent(view, latent, positive, negative, seed=1, steps=args.steps, cfg=7.5,
                                     sampler_name="euler", scheduler="normal")

    per_step = {"base": [], "lora": []}
    for _ in range(2):  # blocks, so that switching (timed above) happens only between them, untimed
        for name, view in (("base", model), ("lora", full)):
            run(view)()
            per_step[name] += [timed(run(view)) / args.steps for _ in range(args.repeat)]
    base, with_lora = statistics.median(per_step["base"]), statistics.median(per_step["lora"])
    print_table(f"sampling step, 64 px, {args.steps} steps, median of {2 * args.repeat} runs per side",
                ["without ms/step", "with LoRA ms/step", "ratio", "target", ""],
                [[f"{base * 1000:.1f}", f"{with_lora * 1000:.1f}", f"{with_lora / base:.3f}x", "<= 1.02x",
                  verdict(with_lora / base, 1.02)]])
    switch = interleaved(args.repeat, {"base": run(model), "lora": run(full)})
    print(f"alternating base and LoRA runs (a switch before each): {switch['base'] * 1000:.0f} ms and "
          f"{switch['lora'] * 1000:.0f} ms per run")


if __name__ == "__main__":
    main()
