"""GPU figures (issue 18, point 7): SD1.5-shaped 512 px and SDXL-shaped 1024 px in fp16, 20 euler steps.

For each shape (random weights at the real widths, written once as single-file checkpoints into --work-dir):

  it/s       the KSampler node against the bare loop (bench/pipeline.py's bare_euler_cfg) on the same UNet,
             same sigmas and noise, interleaved; VRAM peak of the sampling (torch.cuda.max_memory_allocated); then
             both again with the UNet in channels-last memory format
  first      time to the first PNG of workflows/text_to_image.json through the engine in a fresh process (from the
             process start: imports, loading, sampling, decoding, saving), with its VRAM peak
  lowvram    the same fresh-process run with Options(device_mode="lowvram") (weights streamed per layer): it must
             complete; its time and VRAM peak are printed

Without CUDA the script says so and exits 0. `--dry-run` (= `--device cpu --tiny --steps 2 --repeat 1`) runs every
code path on the CPU with tiny models at 64 px (tests/bench/test_gpu_script.py runs it), so the script cannot rot.
The whole default run must fit twice in 15 minutes of one H100, checkpoint builds included.

    .venv/bin/python bench/gpu.py [--work-dir DIR] [--steps 20] [--repeat 3] [--shapes sd15 sdxl]
    .venv/bin/python bench/gpu.py --dry-run
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

STARTED = time.perf_counter()  # the fresh-process children report their time from here (imports included)
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402

from pipeline import (CFG, NEGATIVE, POSITIVE, SEED, TARGET_SAMPLER_OVERHEAD, SamplerCase,  # noqa: E402
                      measure_sampler, print_table, verdict)

log = logging.getLogger("bench.gpu")


@dataclass(frozen=True)
class Shape:
    """One model family at the size it is used at."""

    name: str
    architecture: str
    size: int  # px
    file: str


SHAPES = {"sd15": Shape("sd15", "SD1.x", 512, "bench-sd15-random-weights.safetensors"),
          "sdxl": Shape("sdxl", "SDXL", 1024, "bench-sdxl-random-weights.safetensors")}
TINY_SIZE = 64


# ----------------------------------------------------------------------------------------------- the checkpoints

def clip_config(width: int, layers: int, heads: int, activation: str, projection: int):
    from transformers import CLIPTextConfig

    from nodes.runtime.demo_model import CLIP_END, CLIP_POSITIONS, CLIP_START, CLIP_VOCABULARY

    return CLIPTextConfig(vocab_size=CLIP_VOCABULARY, hidden_size=width, intermediate_size=4 * width,
                          num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=CLIP_POSITIONS,
                          hidden_act=activation, projection_dim=projection, bos_token_id=CLIP_START,
                          eos_token_id=CLIP_END, pad_token_id=CLIP_END)


def sd_vae(scaling_factor: float):
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4,
                         norm_num_groups=32, sample_size=512, scaling_factor=scaling_factor)


def sd15_modules() -> tuple:
    """SD1.5's published configs: UNet 320..1280 (two res blocks per level, 8 heads), SD's VAE, CLIP ViT-L/14."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel(sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                                cross_attention_dim=768, attention_head_dim=8)
    return unet, sd_vae(0.18215), (CLIPTextModel(clip_config(768, 12, 12, "quick_gelu", 768)),)


def sdxl_modules() -> tuple:
    """SDXL base's published configs: UNet 320/640/1280 with 0/2/10-deep transformers and size conditioning, its
    VAE, CLIP ViT-L/14 and OpenCLIP ViT-bigG/14 with its 1280-wide projection."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    unet = UNet2DConditionModel(sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                                transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20),
                                cross_attention_dim=2048, use_linear_projection=True,
                                addition_embed_type="text_time", addition_time_embed_dim=256,
                                projection_class_embeddings_input_dim=2816)
    text_l = CLIPTextModel(clip_config(768, 12, 12, "quick_gelu", 768))
    text_g = CLIPTextModelWithProjection(clip_config(1280, 32, 20, "gelu", 1280))
    return unet, sd_vae(0.13025), (text_l, text_g)


def write_checkpoint(shape: Shape, path: Path, device: torch.device) -> None:
    """The shape's modules with random weights (initialised on `device`: fast on a GPU), as an fp16 single file."""
    from nodes.runtime.checkpoints.ldm_layout import save_ldm_checkpoint

    build = {"sd15": sd15_modules, "sdxl": sdxl_modules}[shape.name]
    with torch.no_grad(), torch.device(device):
        torch.manual_seed(0)
        unet, vae, texts = build()
    cpu = [module.half().cpu() for module in (unet, vae, *texts)]
    temporary = path.with_name(f".{path.name}.tmp")
    save_ldm_checkpoint(temporary, cpu[0], cpu[1], tuple(cpu[2:]), shape.architecture, torch.float16,
                        metadata={"latentloom_bench": "random weights: images are noise"})
    os.replace(temporary, path)


def write_tiny_checkpoint(shape: Shape, path: Path) -> None:
    """The tiny stand-in of a shape: the demo model for SD1.5, the test suite's tiny SDXL (CLIP's vocabulary)."""
    if shape.name == "sd15":
        from nodes.runtime.demo_model import write_demo_checkpoint

        write_demo_checkpoint(path)
    else:
        from tests.fixtures.tiny_checkpoints import FULL_VOCABULARY, build_sdxl

        build_sdxl(path.parent, path.name, vocab_size=FULL_VOCABULARY)


def ensure_checkpoint(shape: Shape, checkpoints: Path, tiny: bool, device: torch.device) -> Path:
    path = checkpoints / (f"tiny-{shape.file}" if tiny else shape.file)
    if path.exists():
        return path
    checkpoints.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if tiny:
        write_tiny_checkpoint(shape, path)
    else:
        write_checkpoint(shape, path, device)
    print(f"{shape.name}: wrote {path.name} ({path.stat().st_size / 1e9:.2f} GB) in "
          f"{time.perf_counter() - started:.0f} s")
    return path


# ----------------------------------------------------------------------------------------------- it/s

def with_size_conditioning_for_bare_calls(unet: torch.nn.Module) -> Callable[[], None]:
    """SDXL's UNet also needs `added_cond`, which bench/pipeline.py's bare loop does not pass: a pre-hook
    keeps the last ones the KSampler gave (its cond+uncond batch, in the bare loop's order) and hands them to calls
    that come without. Returns the remover. Both sides pay the same dictionary look-up."""
    kept: dict = {}

    def hook(module, args, kwargs):
        if kwargs.get("added_cond") is not None:
            kept.update(kwargs["added_cond"])
            return None
        return args, {**kwargs, "added_cond": kept}

    return unet.register_forward_pre_hook(hook, with_kwargs=True).remove


def sampler_figures(path: Path, size: int, steps: int, repeat: int, device: torch.device,
                    dtype: torch.dtype) -> dict[str, dict[str, float]]:
    """KSampler vs bare loop times (bench/pipeline.py's measure_sampler) and the VRAM peak of the sampling, with the
    UNet's weights as loaded ("default") and then in channels-last memory format (whether it helps is measured
    here, not assumed)."""
    from nodes.diffusion.sampling import KSampler
    from nodes.runtime.checkpoints.loader import load_checkpoint
    from nodes.runtime.models import DiffusionModel, TextEncoders
    from nodes.runtime.text import EmbeddingFolder

    loaded = load_checkpoint(path, device, dtype)
    model = DiffusionModel(unet=loaded.unet, architecture=str(loaded.architecture),
                           prediction_type=loaded.prediction_type, source=path.name)
    clip = TextEncoders(text_encoders=loaded.text_encoders, detected=loaded.detected, source=path.name,
                        embeddings=EmbeddingFolder([]))
    case = SamplerCase(model, clip.encode(POSITIVE), clip.encode(NEGATIVE))
    remove = with_size_conditioning_for_bare_calls(model.unet) if model.uses_size_conditioning else None
    latent = {"samples": torch.zeros(1, 4, size // 8, size // 8)}
    KSampler().sample(model, SEED, 2, CFG, "euler", "normal", case.positive, case.negative, latent)  # warm-up
    figures = {}
    try:
        for layout in ("default", "channels-last"):
            if layout == "channels-last":
                model.unet.to(memory_format=torch.channels_last)
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            figures[layout] = measure_sampler(case, size, steps, repeat)
            figures[layout]["vram_peak"] = torch.cuda.max_memory_allocated() if device.type == "cuda" else 0
    finally:
        if remove is not None:
            remove()
    return figures


# ----------------------------------------------------------------------------------------------- fresh processes

def first_image(base: Path, checkpoint: str, size: int, steps: int, mode: str, device: str) -> dict:
    """In this (fresh) process: the text-to-image graph through the engine, to its PNG on disk."""
    from graph_engine import read_workflow_file
    from latentloom.startup import Options, build_engine

    engine, _ = build_engine(Options(base_dir=base, disable_custom_nodes=True,
                                     device_mode="cpu" if device == "cpu" and mode == "auto" else mode,
                                     dtype="fp16"))
    prompt = read_workflow_file(ROOT / "workflows" / "text_to_image.json", registry=engine.registry)
    prompt["4"]["inputs"]["ckpt_name"] = checkpoint
    prompt["5"]["inputs"].update(width=size, height=size)
    prompt["3"]["inputs"].update(steps=steps, cfg=CFG, sampler_name="euler", scheduler="normal")
    prompt["9"]["inputs"]["filename_prefix"] = f"bench-gpu-{mode}"
    ready = time.perf_counter()
    result = engine.run(prompt)
    if not result.ok:
        raise SystemExit(f"the run failed: {result.error}")
    pngs = sorted((base / "output").glob(f"bench-gpu-{mode}*.png"), key=lambda p: p.stat().st_mtime)
    if not pngs:
        raise SystemExit("the run reported success but wrote no PNG")
    done = time.perf_counter()
    return {"total": done - STARTED, "run": done - ready, "vram_peak": torch.cuda.max_memory_allocated()
            if torch.cuda.is_available() else 0, "png": str(pngs[-1])}


def first_image_in_fresh_process(base: Path, checkpoint: str, size: int, steps: int, mode: str,
                                  device: str) -> dict:
    """`first_image` in a new interpreter; its wall time from spawn to exit is measured here as well."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child-first-image", checkpoint, "--base", str(base),
                           "--size", str(size), "--steps", str(steps), "--mode", mode, "--device", device],
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"the fresh-process run ({mode}) failed:\n{done.stderr[-4000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall": wall}


# ----------------------------------------------------------------------------------------------- main

def gigabytes(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n else "n/a (CPU)"


def run(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32  # the CPU computes in float32 (ModelManager)
    base = args.work_dir
    checkpoints = base / "models" / "checkpoints"
    print(f"torch {torch.__version__}, device {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}, "
          f"{'tiny models' if args.tiny else 'real widths, random weights'}, {args.steps} steps")
    speed_rows, run_rows = [], []
    for name in args.shapes:
        shape = SHAPES[name]
        size = TINY_SIZE if args.tiny else shape.size
        path = ensure_checkpoint(shape, checkpoints, args.tiny, device)
        for layout, t in sampler_figures(path, size, args.steps, args.repeat, device, dtype).items():
            bare, ours = args.steps / t["bare"], args.steps / t["ours"]
            ratio = t["ours"] / t["bare"]
            speed_rows.append([name, f"{size} px", layout, f"{bare:.2f}", f"{ours:.2f}", f"{ratio:.3f}x",
                               f"<= {TARGET_SAMPLER_OVERHEAD:.2f}x", verdict(ratio, TARGET_SAMPLER_OVERHEAD),
                               f"{t['max_diff']:.1e}", gigabytes(t["vram_peak"])])
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()  # this process's freed blocks, before the fresh processes need the memory
        for mode in args.modes:
            r = first_image_in_fresh_process(base, path.name, size, args.steps, mode, args.device)
            run_rows.append([name, mode, f"{r['wall']:.1f}", f"{r['total']:.1f}", f"{r['run']:.1f}",
                             gigabytes(r["vram_peak"]), Path(r["png"]).name])
    print_table(f"KSampler vs bare loop: euler, cfg {CFG}, {args.steps} steps, batch 1 (UNet batch 2), "
                f"{str(dtype).replace('torch.', '')}; median of {args.repeat}",
                ["shape", "size", "UNet weights", "bare it/s", "ours it/s", "ours/bare time", "target", "",
                 "max |diff|", "VRAM peak (sampling)"], speed_rows)
    print_table("text_to_image.json through the engine in a fresh process, to the PNG on disk",
                ["shape", "devices", "spawn to exit s", "start to PNG s", "engine.run s", "VRAM peak", "png"],
                run_rows)
    print("  start to PNG = from the interpreter's first line of this script (imports included) to the PNG; "
          "lowvram streams the weights layer by layer and must complete.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, help="where the checkpoints and images go (default: "
                                                      "<tmp>/latentloom-bench-gpu, or a fresh folder for --tiny)")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--modes", nargs="+", default=["auto", "lowvram"], choices=["auto", "lowvram"],
                        help="the device modes of the fresh-process runs")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="tiny models at 64 px (exercises the paths, no figures)")
    parser.add_argument("--dry-run", action="store_true", help="--device cpu --tiny --steps 2 --repeat 1")
    parser.add_argument("--child-first-image", help=argparse.SUPPRESS)  # a fresh-process run of this checkpoint
    parser.add_argument("--base", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.child_first_image:
        print(json.dumps(first_image(args.base, args.child_first_image, args.size, args.steps, args.mode,
                                     args.device)))
        return 0
    if args.dry_run:
        args.device, args.tiny, args.steps, args.repeat = "cpu", True, 2, 1
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device on this machine; nothing to measure "
              "(`--dry-run` exercises the script on the CPU with tiny models)")
        return 0
    if args.work_dir is None and args.tiny:
        with tempfile.TemporaryDirectory(prefix="latentloom-bench-gpu-") as temporary:
            args.work_dir = Path(temporary)
            run(args)
    else:
        args.work_dir = args.work_dir or Path(tempfile.gettempdir()) / "latentloom-bench-gpu"
        run(args)
    print(f"\ntotal {time.perf_counter() - STARTED:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
