"""The diffusion pipeline's overhead against bare diffusers code, on a large (SD1-shaped, >= 500 MB) and a tiny checkpoint.

Four parts, each printed as a table with its target:

  (a) KSampler node vs a bare euler + CFG loop over the same UNet module (same sigmas, same noise), 64/128/256 px.
  (b) checkpoint load time vs reading the file's bytes (both page-cache hot), and peak RSS during the load vs the
      file size; each load runs in a fresh subprocess so its memory is its own.
  (c) VAEDecode and VAEEncode (`Vae.decode` / `Vae.encode` with our VAE module, which time the attention paths and
      memory layouts once per size and keep the fastest) vs bare diffusers `AutoencoderKL.decode` /
      `.encode(...).latent_dist` with the same weights (diffusers' default attention processor), at --sizes.
  (d) the text-to-image workflow through the engine: a second run with only the seed changed vs the first run.

With a CUDA GPU it also measures 512 px fp16 it/s of the KSampler vs the bare loop.

The checkpoints are generated (random weights) into --work-dir and reused by later runs. The weights are random, so
the images are noise; only time and memory are measured. Figures are medians of interleaved repeats
(bare, ours, bare, ours ...), so a slow phase of the machine hits both sides alike.

    .venv/bin/python bench/pipeline.py [--work-dir DIR] [--steps 4] [--repeat 5] [--sizes 64 128 256] [--quick]
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

log = logging.getLogger("bench.pipeline")

LARGE_NAME = "bench-sd1-large-random-weights.safetensors"
TINY_NAME = "latentloom-demo-sd1-random-weights.safetensors"  # the name workflows/text_to_image.json asks for
MIN_LARGE_BYTES = 500 * 1024 ** 2
TARGET_SAMPLER_OVERHEAD = 1.05  # ours / bare
TARGET_LOAD_TIME = 1.5  # load / read bytes
TARGET_LOAD_RSS = 1.3  # peak RSS increase / file size
TARGET_VAE = 1.0  # ours / bare
# parts a and c time each side for at least this long (more rounds for short calls): a 5 ms encode's median over 5
# rounds moved by +-10% between runs on a 2-core machine
MEASURE_SECONDS = 1.0
CFG = 7.5
SEED = 42
POSITIVE, NEGATIVE = "a photograph of an astronaut riding a horse", "blurry, low quality"


# ----------------------------------------------------------------------------------------------- measuring helpers

def timed(action: Callable[[], object]) -> float:
    """Seconds `action` takes; a GPU is synchronised on both sides so queued kernels are counted."""
    _sync()
    started = time.perf_counter()
    action()
    _sync()
    return time.perf_counter() - started


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def interleaved(repeat: int, actions: dict[str, Callable[[], object]], min_seconds: float = 0.0,
                max_rounds: int = 100) -> dict[str, float]:
    """Median seconds of each action over `repeat` rounds, the actions alternating within a round (in an order that
    turns each round) so that drift of the machine (thermal, other processes, the allocator's state after the one
    before) is shared rather than charged to one side. One timed warm-up each; where the slowest warm-up took less
    than `min_seconds` / `repeat`, more rounds run (up to `max_rounds`), so short calls get a median as steady as
    long ones."""
    warm_up = max(timed(action) for action in actions.values())
    rounds = max(repeat, min(max_rounds, int(min_seconds / max(warm_up, 1e-9))))
    samples: dict[str, list[float]] = {name: [] for name in actions}
    names = list(actions)
    for round_number in range(rounds):  # the order turns each round: the one that goes first changes
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(timed(actions[name]))
    for name, values in samples.items():
        log.debug("%s: %s", name, ", ".join(f"{v * 1000:.1f} ms" for v in values))
    return {name: statistics.median(values) for name, values in samples.items()}


def verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else f"OVER TARGET ({value / target - 1:+.0%})"


def print_table(title: str, header: Sequence[str], rows: list[Sequence[str]]) -> None:
    """A plain aligned table: this is CLI output, read by people and pasted into issues."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def rss_status(keys: Sequence[str] = ("VmRSS", "VmHWM")) -> dict[str, int]:
    """Memory figures of this process in bytes from /proc/self/status (Linux): by default VmRSS and VmHWM (peak)."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in keys:
            values[key] = int(rest.split()[0]) * 1024
    return values


# ----------------------------------------------------------------------------------------------- the checkpoints

def large_modules() -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """SD1's real widths (UNet 320..1280 with 8-head cross attention to 768-wide text, SD's VAE, CLIP-L), with one
    res block per UNet level instead of two: the file stays well over 500 MB (~1.6 GB in fp16) while a CPU can still
    sample it in a bench-sized time. Random weights from a fixed seed."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from nodes.runtime.demo_model import CLIP_END, CLIP_POSITIONS, CLIP_START, CLIP_VOCABULARY

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=1,
                                cross_attention_dim=768, attention_head_dim=8)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4,
                        norm_num_groups=32, sample_size=512, scaling_factor=0.18215)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=CLIP_VOCABULARY, hidden_size=768, intermediate_size=3072,
                                        num_hidden_layers=12, num_attention_heads=12,
                                        max_position_embeddings=CLIP_POSITIONS, hidden_act="quick_gelu",
                                        projection_dim=768, bos_token_id=CLIP_START, eos_token_id=CLIP_END,
                                        pad_token_id=CLIP_END))
    return unet.eval(), vae.eval(), text.eval()


def write_large_checkpoint(path: Path) -> None:
    """Build the large modules and write them as an fp16 SD1 single-file checkpoint (under a temporary name first,
    so an interrupted build never leaves a truncated file that a later run would reuse)."""
    from nodes.runtime.checkpoints.ldm_layout import save_ldm_checkpoint

    started = time.perf_counter()
    with torch.no_grad():
        unet, vae, text = large_modules()
        temporary = path.with_name(f".{path.name}.tmp")
        save_ldm_checkpoint(temporary, unet, vae, (text,), "SD1.x", torch.float16,
                            metadata={"latentloom_bench": "random weights: images are noise"})
    os.replace(temporary, path)
    print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss": rss_status()["VmHWM"]}))


def ensure_checkpoints(work_dir: Path) -> dict[str, Path]:
    """The tiny (demo) and large checkpoints in `work_dir`, generated on first use. The large one is built in a
    subprocess so its build peak (fp32 modules + fp16 copies) never inflates this process's memory."""
    from nodes.runtime.demo_model import write_demo_checkpoint

    tiny = write_demo_checkpoint(work_dir / TINY_NAME)
    large = work_dir / LARGE_NAME
    if large.exists():
        print(f"large checkpoint: {large} ({large.stat().st_size / 1e6:.0f} MB, reused)")
    else:
        done = subprocess.run([sys.executable, __file__, "--build-large", str(large)], check=True,
                              capture_output=True, text=True)
        built = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"large checkpoint: {large} ({large.stat().st_size / 1e6:.0f} MB, built in {built['seconds']:.0f} s, "
              f"build peak RSS {built['peak_rss'] / 1e9:.1f} GB)")
    if large.stat().st_size < MIN_LARGE_BYTES:
        raise SystemExit(f"{large} is smaller than 500 MB; delete it to rebuild")
    print(f"tiny checkpoint:  {tiny} ({tiny.stat().st_size / 1e6:.1f} MB)")
    return {"large": large, "tiny": tiny}


# ----------------------------------------------------------------------------------------------- (a) KSampler

def bare_euler_cfg(unet: torch.nn.Module, log_sigmas: torch.Tensor, sigmas: torch.Tensor, noise: torch.Tensor,
                   context: torch.Tensor, cfg: float, max_denoise: bool) -> torch.Tensor:
    """The least a k-diffusion euler sampler with CFG has to do: one UNet call per step on the cond+uncond batch.

    x_in = x / sqrt(sigma^2 + 1); timestep = the training step of nearest log-sigma; eps -> x0; CFG; euler step.
    Returns the final latent in model units."""
    dtype, device = unet.conv_in.weight.dtype, unet.conv_in.weight.device
    timesteps = (sigmas[:-1].log()[None, :] - log_sigmas[:, None]).abs().argmin(dim=0).float()
    x = noise * ((1 + sigmas[0] ** 2) ** 0.5 if max_denoise else sigmas[0])
    context = context.to(device, dtype)
    with torch.no_grad():
        for i in range(len(sigmas) - 1):
            sigma = sigmas[i]
            x_in = (x / (sigma ** 2 + 1) ** 0.5).to(dtype).repeat(2, 1, 1, 1)
            eps = unet(x_in, timesteps[i].to(device), context).float()
            cond, uncond = (x - eps * sigma).chunk(2)
            denoised = uncond + (cond - uncond) * cfg
            x = x + (x - denoised) / sigma * (sigmas[i + 1] - sigma)
    return x


@dataclass
class SamplerCase:
    """One checkpoint's models and prompts, shared by every size."""

    model: object  # DiffusionModel
    positive: list
    negative: list


def sampler_case(path: Path) -> tuple[SamplerCase, object]:
    """Load a checkpoint the way CheckpointLoaderSimple does and encode the prompts the way CLIPTextEncode does."""
    from nodes.runtime.loading import load_checkpoint_models

    model, clip, vae = load_checkpoint_models(path)
    return SamplerCase(model, clip.encode(POSITIVE), clip.encode(NEGATIVE)), vae


def measure_sampler(case: SamplerCase, size: int, steps: int, repeat: int) -> dict[str, float]:
    """KSampler node vs the bare loop at `size` px; also checks both give the same latent (same work done)."""
    from nodes.diffusion.sampling import KSampler
    from nodes.runtime.sampling import initial_noise, is_max_denoise, ksampler_sigmas

    model = case.model
    latent = {"samples": torch.zeros(1, 4, size // 8, size // 8)}
    sigmas = ksampler_sigmas(model.schedule, "normal", steps, 1.0, "euler").to(model.device)
    noise = initial_noise(latent["samples"], SEED).to(model.device)
    context = torch.cat([case.positive[0][0], case.negative[0][0]])
    node = KSampler()
    results: dict[str, torch.Tensor] = {}

    def ours() -> None:
        results["ours"] = node.sample(model, SEED, steps, CFG, "euler", "normal", case.positive, case.negative,
                                      latent)[0]["samples"]

    def bare() -> None:
        results["bare"] = bare_euler_cfg(model.unet, model.schedule.log_sigmas.to(model.device), sigmas, noise,
                                         context, CFG, is_max_denoise(model.schedule, sigmas))

    times = interleaved(repeat, {"bare": bare, "ours": ours}, MEASURE_SECONDS)
    bare_latent = model.latent_format.from_model(results["bare"]).float().cpu()
    times["max_diff"] = float((bare_latent - results["ours"]).abs().max())
    return times


def part_sampler(cases: dict[str, SamplerCase], sizes: Sequence[int], steps: int, repeat: int) -> None:
    rows = []
    for name, case in cases.items():
        for size in sizes:
            t = measure_sampler(case, size, steps, repeat)
            ratio = t["ours"] / t["bare"]
            rows.append([name, f"{size} px", f"{t['bare'] * 1000 / steps:.1f}", f"{t['ours'] * 1000 / steps:.1f}",
                         f"{ratio:.3f}x", f"<= {TARGET_SAMPLER_OVERHEAD:.2f}x", verdict(ratio, TARGET_SAMPLER_OVERHEAD),
                         f"{t['max_diff']:.1e}"])
    print_table(f"(a) KSampler node vs bare loop: euler, cfg {CFG}, {steps} steps, batch 1 (UNet batch 2), "
                f"float32 on {next(iter(cases.values())).model.device}; median of {repeat} or more rounds "
                f"({MEASURE_SECONDS:.0f} s a side at least, up to 100)",
                ["checkpoint", "size", "bare ms/step", "ours ms/step", "ours/bare", "target", "", "max |diff|"],
                rows)


# ----------------------------------------------------------------------------------------------- (b) loading

LOAD_CHILD = r"""
import gc, json, sys, threading, time
sys.path.insert(0, sys.argv[1])
import torch
from nodes.runtime.checkpoints.loader import load_checkpoint
from nodes.runtime.devices.host_heap import keep_freed_memory, return_freed_memory
from bench.pipeline import rss_status
keep_freed_memory()   # the C heap as the engine sets it for CheckpointLoaderSimple
path, dtype, warm = sys.argv[2], getattr(torch, sys.argv[3]), sys.argv[4]
load_checkpoint(warm, "cpu", dtype)   # imports and first-call costs, paid once per process, not per checkpoint
gc.collect()
return_freed_memory()
before = rss_status()["VmRSS"]
try:
    open("/proc/self/clear_refs", "w").write("5")   # reset VmHWM to the current RSS
    reset = True
except OSError:
    reset = False
peaks = {"RssAnon": 0, "RssFile": 0}
done = threading.Event()
def sample():   # anonymous (copies) vs file-backed (mapped file pages) resident memory, every 5 ms
    while not done.wait(0.005):
        for key, value in rss_status(("RssAnon", "RssFile")).items():
            peaks[key] = max(peaks[key], value)
base = rss_status(("RssAnon", "RssFile"))
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
started = time.perf_counter()
loaded = load_checkpoint(path, "cpu", dtype)
seconds = time.perf_counter() - started
done.set()
sampler.join()
peak = rss_status()["VmHWM"]
detected = loaded.detected
del loaded  # its memory goes back, so the read below gets memory as fresh as the load's own (not more of it)
gc.collect()
return_freed_memory()  # as the engine does after the loader node
# reading every tensor into fresh memory of its own, as the loader's reading threads do, with nothing else to do:
# what the load costs beyond the page-cache read (first-touch page faults), for reference
from nodes.runtime.checkpoints.checkpoint_file import open_checkpoint_file
with open_checkpoint_file(path) as opened:
    started = time.perf_counter()
    ahead = opened.read_ahead(list(opened.shapes), lambda key, tensor: tensor)
    fresh = [ahead.take(key) if ahead else opened.tensor(key) for key in opened.shapes]
    fresh_seconds = time.perf_counter() - started
del fresh
# the floor of any loader built on these classes: constructing the same empty modules on meta, with no file read
from nodes.runtime.checkpoints.components import empty_text_encoder, empty_unet, empty_vae
started = time.perf_counter()
empty_unet(detected.unet_config)
empty_vae(detected.vae_config)
for spec in detected.text_encoders:
    empty_text_encoder(spec)
build = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "build": build, "fresh": fresh_seconds, "before": before, "peak": peak,
                  "reset": reset, "anon": peaks["RssAnon"] - base["RssAnon"],
                  "file": peaks["RssFile"] - base["RssFile"]}))
"""


def read_bytes_seconds(path: Path, chunk: int = 16 * 1024 ** 2) -> float:
    """Seconds to read every byte of the file through one reused buffer: the floor any loader has to pay."""
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as handle:
        while handle.readinto(view):
            pass
    return time.perf_counter() - started


def load_in_subprocess(path: Path, dtype: str, warm: Path) -> dict:
    """One load_checkpoint in a fresh interpreter, after a warm-up load of the tiny file there (imports)."""
    done = subprocess.run([sys.executable, "-c", LOAD_CHILD, str(ROOT), str(path), dtype, str(warm)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def part_load(checkpoints: dict[str, Path], repeat: int) -> None:
    rows = []
    reset = True
    for name, path in checkpoints.items():
        size = path.stat().st_size
        read_bytes_seconds(path)  # page-cache hot for the reads and the loads alike
        read = min(read_bytes_seconds(path) for _ in range(max(repeat, 3)))
        for dtype in ("float16", "float32"):
            runs = [load_in_subprocess(path, dtype, checkpoints["tiny"]) for _ in range(max(repeat - 1, 1))]
            seconds = min(r["seconds"] for r in runs)
            build = min(r["build"] for r in runs)
            fresh = min(r["fresh"] for r in runs)
            grown = max(r["peak"] - r["before"] for r in runs)
            anon, mapped = max(r["anon"] for r in runs), max(r["file"] for r in runs)
            reset = reset and all(r["reset"] for r in runs)
            natural = dtype == "float16"  # the file's dtype: each weight is read once and kept, not converted
            time_ratio, rss_ratio = seconds / (read + build), grown / size
            rows.append([name, f"{size / 1e6:.0f} MB", dtype + (" (file)" if natural else ""),
                         f"{read * 1000:.1f}", f"{build * 1000:.0f}", f"{seconds * 1000:.0f}", f"{time_ratio:.2f}x",
                         verdict(time_ratio, TARGET_LOAD_TIME) if natural else "info",
                         f"{fresh * 1000:.0f} ms, load = {seconds / (fresh + build):.2f}x (fresh + build)",
                         f"{grown / 1e6:.0f} MB", f"{anon / 1e6:.0f} / {mapped / 1e6:.0f} MB", f"{rss_ratio:.2f}x",
                         verdict(rss_ratio, TARGET_LOAD_RSS) if natural else "info"])
    print_table(f"(b) load_checkpoint(path, 'cpu', dtype) vs reading the file's bytes (page-cache hot) plus building "
                f"the empty modules; targets: time <= {TARGET_LOAD_TIME}x, peak RSS increase <= {TARGET_LOAD_RSS}x file "
                f"size (file dtype; float32 converts every weight, so ~2x is expected)",
                ["checkpoint", "file", "dtype", "read ms", "build ms", "load ms", "load/(read+build)", "",
                 "fresh-memory read (info)", "peak RSS +", "anon / file-backed", "RSS/file", ""],
                rows)
    print("  read = every byte of the file through one reused buffer; build = constructing the same empty modules "
          "on meta as the loader (its own empty_unet, empty_vae, empty_text_encoder), with no file read at all.")
    print("  fresh-memory read = every tensor read into memory of its own by the loader's reading threads, with "
          "nothing else to do, in the same process once the loaded model was freed: the part of a load no loader that copies the "
          "weights avoids (first-touch page faults of fresh memory), for reference.")
    print("  peak RSS + = VmHWM during the load minus VmRSS before it, in a fresh process after a warm-up load of the "
          "tiny file; anon / file-backed = sampled peaks (5 ms) of private copies vs mapped file pages (the loader "
          "maps nothing: weights never depend on the file staying as it is).")
    if not reset:
        print("  note: /proc/self/clear_refs unavailable, the peak may include the warm-up load")


# ----------------------------------------------------------------------------------------------- (c) VAE decode and encode

CHOOSER_LOGS = ("nodes.runtime.models.vae_attention", "nodes.runtime.models.vae_layout")


class ChooserLog(logging.Handler):
    """Collects the VAE choosers' DEBUG lines (per-path and per-layout timings), to print under the table."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def last_choice(vae) -> str:
    """The attention path and layout the Vae chose for the call it measured last (its choosers keep them in order)."""
    attention = next(reversed(vae.attention.choices.values()), "?")
    layout = getattr(vae, "layout", None)
    channels_last = next(reversed(layout.choices.values()), None) if layout is not None else None
    return attention + ("" if channels_last is None else " / " + ("channels-last" if channels_last else "contiguous"))


def diffusers_vae(module: torch.nn.Module) -> torch.nn.Module:
    """diffusers' AutoencoderKL with our module's config and weights, on its device and in its dtype (diffusers'
    default attention processor and layout)."""
    from diffusers import AutoencoderKL

    weight = module.decoder.conv_in.weight
    bare = AutoencoderKL(**module.config)
    bare.load_state_dict(module.state_dict(), strict=True)
    # torch's own `to`: diffusers' warns about float32-only modules, which this VAE does not have
    return torch.nn.Module.to(bare, weight.device, weight.dtype).eval()


def measure_decode(vae, bare_module, size: int, repeat: int) -> dict[str, object]:
    """Vae.decode vs diffusers' AutoencoderKL.decode with the same weights (its default processor, its own layout), on
    the same random latent; both images compared."""
    latent = torch.randn(1, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(SEED))
    on_device = latent.to(vae.device, vae.dtype)
    results: dict[str, torch.Tensor] = {}

    def ours() -> None:
        results["ours"] = vae.decode(latent)

    def bare() -> None:
        with torch.no_grad():
            results["bare"] = bare_module.decode(on_device, return_dict=False)[0]

    first = timed(ours)  # the first call of a size makes its choices (their timings in the log below the table)
    chose = last_choice(vae)
    times = interleaved(repeat, {"bare": bare, "ours": ours}, MEASURE_SECONDS)
    bare_image = ((results["bare"].float().cpu() + 1) / 2).clamp(0, 1).movedim(1, -1)
    return {**times, "first": first, "chose": chose, "max_diff": float((bare_image - results["ours"]).abs().max())}


def measure_encode(vae, bare_module, size: int, repeat: int) -> dict[str, object]:
    """Vae.encode of an IMAGE vs diffusers' AutoencoderKL.encode(...).latent_dist of the same pixels, already in the
    model's layout (NCHW, -1..1) on its device; the latents (the posterior's mean) compared."""
    image = torch.rand(1, size, size, 3, generator=torch.Generator().manual_seed(SEED))
    pixels = (image.movedim(-1, 1) * 2 - 1).contiguous().to(vae.device, vae.dtype)
    results: dict[str, torch.Tensor] = {}

    def ours() -> None:
        results["ours"] = vae.encode(image)

    def bare() -> None:
        with torch.no_grad():
            results["bare"] = bare_module.encode(pixels).latent_dist

    first = timed(ours)
    chose = last_choice(vae)
    times = interleaved(repeat, {"bare": bare, "ours": ours}, MEASURE_SECONDS)
    return {**times, "first": first, "chose": chose,
            "max_diff": float((results["bare"].mean.float().cpu() - results["ours"]).abs().max())}


def part_vae(vaes: dict[str, object], sizes: Sequence[int], repeat: int) -> None:
    handler = ChooserLog()
    loggers = [logging.getLogger(name) for name in CHOOSER_LOGS]
    saved = [(each.level, each.propagate) for each in loggers]
    for each in loggers:
        each.addHandler(handler)
        each.setLevel(logging.DEBUG)
        each.propagate = log.isEnabledFor(logging.DEBUG)  # printed below the table; on stderr only with --verbose
    rows = []
    try:
        for name, vae in vaes.items():
            bare_module = diffusers_vae(vae.module)
            for operation, measure in (("decode", measure_decode), ("encode", measure_encode)):
                for size in sizes:
                    t = measure(vae, bare_module, size, repeat)
                    ratio = t["ours"] / t["bare"]
                    rows.append([name, operation, f"{size} px", f"{t['bare'] * 1000:.1f}", f"{t['ours'] * 1000:.1f}",
                                 f"{ratio:.3f}x", f"<= {TARGET_VAE:.1f}x", verdict(ratio, TARGET_VAE),
                                 f"{t['max_diff']:.1e}", t["chose"], f"{t['first'] / t['ours']:.2f}x"])
            del bare_module
    finally:
        for each, (level, propagate) in zip(loggers, saved):
            each.removeHandler(handler)
            each.setLevel(level)
            each.propagate = propagate
    print_table(f"(c) Vae.decode / Vae.encode vs bare diffusers AutoencoderKL.decode / .encode(...).latent_dist with "
                f"the same weights (diffusers' default processor and layout); float32; median of {repeat} or more "
                f"rounds ({MEASURE_SECONDS:.0f} s a side at least, up to 100)",
                ["vae of", "", "size", "bare ms", "ours ms", "ours/bare", "target", "", "max |diff|", "ours chose",
                 "first call/ours"], rows)
    print("  first call/ours = our first call of a size (which times the choices) over our later calls' median")
    print("  choices timed by the Vae on the first call of each size (attention: one mid-block layer; layout: a probe):")
    for line in handler.lines:
        print(f"    {line}")


# ----------------------------------------------------------------------------------------------- (d) engine re-run

def part_engine(tiny: Path, work_dir: Path, steps: int) -> None:
    """The standard text-to-image graph at 64 px on the tiny checkpoint: first run, then only the seed changed."""
    import shutil

    from graph_engine import read_workflow_file
    from latentloom.startup import Options, build_engine

    base = work_dir / "engine"
    checkpoints = base / "models" / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    if not (checkpoints / tiny.name).exists():
        shutil.copyfile(tiny, checkpoints / tiny.name)
    engine, _ = build_engine(Options(base_dir=base, disable_custom_nodes=True))
    # the bundled file is in the editor's format: converted with the engine's nodes, as `latentloom run` reads it
    prompt = read_workflow_file(ROOT / "workflows" / "text_to_image.json", registry=engine.registry)
    prompt["4"]["inputs"]["ckpt_name"] = tiny.name
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=steps)
    reseeded = copy.deepcopy(prompt)
    reseeded["3"]["inputs"]["seed"] += 1

    results = {}

    def run(name: str, graph: dict) -> float:
        seconds = timed(lambda: results.__setitem__(name, engine.run(graph)))
        if not results[name].ok:
            raise RuntimeError(f"{name} run failed: {results[name].error}")
        return seconds

    first, second = run("first", prompt), run("second", reseeded)
    classes = {node: prompt[node]["class_type"] for node in prompt}
    names = lambda ids: ", ".join(f"{i} {classes.get(i, '?')}" for i in ids) or "none"  # noqa: E731
    ratio = second / first
    print_table(f"(d) engine: workflows/text_to_image.json, tiny checkpoint, 64 px, {steps} steps; "
                f"second run with only the KSampler seed changed",
                ["first run ms", "seed-changed run ms", "second/first", "target", ""],
                [[f"{first * 1000:.0f}", f"{second * 1000:.0f}", f"{ratio:.2f}x", "< 1.00x",
                  verdict(ratio, 0.999)]])
    print(f"  cached in the second run:   {names(results['second'].cached)}")
    print(f"  executed in the second run: {names(results['second'].executed)}")


# ----------------------------------------------------------------------------------------------- GPU

def part_gpu(large: Path, steps: int, repeat: int) -> None:
    """512 px fp16 it/s of the KSampler vs the bare loop, where a CUDA device exists."""
    if not torch.cuda.is_available():
        print("\n(GPU) 512 px fp16 it/s: skipped, no CUDA device on this machine")
        return
    from nodes.runtime.checkpoints.loader import load_checkpoint
    from nodes.runtime.models import DiffusionModel, TextEncoders
    from nodes.runtime.text import EmbeddingFolder

    loaded = load_checkpoint(large, "cuda", torch.float16)
    model = DiffusionModel(unet=loaded.unet, architecture=str(loaded.architecture),
                           prediction_type=loaded.prediction_type, source=large.name)
    clip = TextEncoders(text_encoders=loaded.text_encoders, detected=loaded.detected, source=large.name,
                        embeddings=EmbeddingFolder([]))
    case = SamplerCase(model, clip.encode(POSITIVE), clip.encode(NEGATIVE))
    t = measure_sampler(case, 512, steps, repeat)
    bare, ours = steps / t["bare"], steps / t["ours"]
    print_table(f"(GPU) 512 px fp16 on {torch.cuda.get_device_name()}, euler, {steps} steps; median of {repeat}",
                ["bare it/s", "ours it/s", "ours/bare time", "target", ""],
                [[f"{bare:.2f}", f"{ours:.2f}", f"{bare / ours:.3f}x", f"<= {TARGET_SAMPLER_OVERHEAD:.2f}x",
                  verdict(bare / ours, TARGET_SAMPLER_OVERHEAD)]])


# ----------------------------------------------------------------------------------------------- main

def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, help="where the generated checkpoints are kept between runs "
                                                      "(default: <tmp>/latentloom-bench-pipeline)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 steps, 2 repeats, 64 and 128 px only")
    parser.add_argument("--parts", default="abcdg", help="which parts to run (letters a b c d, g for GPU)")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--build-large", type=Path, help=argparse.SUPPRESS)  # the build subprocess
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.build_large:
        write_large_checkpoint(args.build_large)
        return
    from nodes.runtime.devices.host_heap import keep_freed_memory

    keep_freed_memory()  # the C heap as build_engine sets it for every node (parts a and c call nodes directly)
    if args.quick:
        args.steps, args.repeat, args.sizes = 2, 2, [s for s in args.sizes if s <= 128] or args.sizes[:1]
    work_dir = args.work_dir or Path(tempfile.gettempdir()) / "latentloom-bench-pipeline"
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}")
    checkpoints = ensure_checkpoints(work_dir)
    if "b" in args.parts:
        part_load(checkpoints, args.repeat)
    if "a" in args.parts or "c" in args.parts:
        from graph_engine import Folders, using_folders

        with using_folders(Folders.under(work_dir / "engine")):  # the loader looks for embeddings there (none)
            loaded = {name: sampler_case(path) for name, path in checkpoints.items()}
        if "a" in args.parts:
            part_sampler({name: case for name, (case, _) in loaded.items()}, args.sizes, args.steps, args.repeat)
        if "c" in args.parts:
            part_vae({name: vae for name, (_, vae) in loaded.items()}, args.sizes, args.repeat)
        del loaded
    if "d" in args.parts:
        part_engine(checkpoints["tiny"], work_dir, args.steps)
    if "g" in args.parts:
        part_gpu(checkpoints["large"], max(args.steps, 10), args.repeat)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
