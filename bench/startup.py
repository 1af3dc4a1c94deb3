"""Start-up: `latentloom serve` to the first answered GET /system_stats and to the first image; a first CLI run.

Targets (issue 18 §1): HTTP ready in <= 2 s, whatever the number of installed models (measured with none and with
many model files; the loaders read a file only when a workflow uses it); from `serve` start to the first PNG of the
default graph <= 0.5x ComfyUI's (its figure from the issue's side-by-side); a first prompt posted once the server
has loaded ahead costs what a warm run costs plus the checkpoint load; a first `latentloom run` of the same graph in a
fresh process <= 1.2x ComfyUI's first prompt on a warm server.

    .venv/bin/python bench/startup.py [--models 0 500] [--repeat 3] [--checkpoint FILE] [--size 64] [--steps 10]
                                      [--parts rfc]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server_process import REPO, first_answer, start, stop  # noqa: E402

TARGET_SECONDS = 2.0
COMFYUI_FIRST_IMAGE = 8.7 + 2.3  # issue 18's side-by-side: serve start -> HTTP ready, then its first prompt
TARGET_FIRST_IMAGE = 0.5  # x ComfyUI's
COMFYUI_FIRST_PROMPT = 2.3  # issue 18's side-by-side: its first prompt on a warm server, checkpoint load included
TARGET_CLI = 1.2  # x ComfyUI's first prompt


def base_with_models(root: Path, count: int) -> Path:
    """The demo checkpoint plus `count` more model files (hard links of it: real files, no extra disk)."""
    from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME, write_demo_checkpoint

    checkpoints = root / "models" / "checkpoints"
    demo = write_demo_checkpoint(checkpoints / DEMO_CHECKPOINT_NAME)
    for index in range(count):
        folder = root / "models" / ("loras" if index % 2 else "checkpoints") / f"set{index // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"model_{index:04}.safetensors").hardlink_to(demo)
    return root


def api_prompt(checkpoint: str, size: int, steps: int, seed: int) -> dict:
    """The default workflow (workflows/text_to_image.json) as the API prompt a client posts."""
    from graph_engine import Folders, NodeRegistry, read_workflow_file, using_folders
    import nodes

    registry = NodeRegistry()
    with tempfile.TemporaryDirectory() as empty, using_folders(Folders.under(Path(empty))):
        nodes.register_builtins(registry)
    prompt = read_workflow_file(REPO / "workflows" / "text_to_image.json", registry=registry)
    prompt["4"]["inputs"]["ckpt_name"] = checkpoint
    prompt["5"]["inputs"].update(width=size, height=size)
    prompt["3"]["inputs"].update(steps=steps, seed=seed)
    return prompt


def run_prompt(url: str, prompt: dict, timeout: float = 600) -> float:
    """Seconds from POST /prompt to its history entry (successful)."""
    started = time.monotonic()
    request = urllib.request.Request(url + "/prompt", json.dumps({"prompt": prompt}).encode(), method="POST")
    with urllib.request.urlopen(request) as response:
        prompt_id = json.loads(response.read())["prompt_id"]
    while time.monotonic() - started < timeout:
        with urllib.request.urlopen(f"{url}/history/{prompt_id}") as response:
            entry = json.loads(response.read()).get(prompt_id)
        if entry:
            assert entry["status"]["status_str"] == "success", entry["status"]
            return time.monotonic() - started
        time.sleep(0.01)
    raise RuntimeError("the prompt did not finish in time")


def wait_for_log(log: Path, text: str, timeout: float = 300) -> float:
    """The monotonic time at which `text` appeared in the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return time.monotonic()
        time.sleep(0.01)
    raise RuntimeError(f"the server never logged {text!r}")


def logged_load_seconds(log: Path, name: str) -> float:
    """The checkpoint load time the loader logged ("loaded NAME: ... in 1.2 s")."""
    found = re.search(rf"loaded {re.escape(name)}: .* in ([0-9.]+) s", log.read_text(errors="replace"))
    return float(found.group(1)) if found else float("nan")


@dataclass
class FirstImage:
    ready: float  # start -> HTTP answers
    image: float  # start -> the first PNG's history entry
    first_run: float  # POST -> history entry of that first prompt
    warm_run: float  # the same prompt again with another seed (the checkpoint cached)
    load: float  # the checkpoint load as the loader logged it
    ahead: float  # start -> the server logged it had loaded ahead (nan when the prompt was posted sooner)


def first_image(checkpoint: Path, size: int, steps: int, after_preload: bool) -> FirstImage:
    """Start a server on a fresh installation holding `checkpoint`, post the default graph as soon as HTTP answers
    (or once the server has loaded ahead), then once more with another seed."""
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        installed = base / "models" / "checkpoints" / checkpoint.name
        installed.parent.mkdir(parents=True)
        installed.hardlink_to(checkpoint)
        process, url, started = start(base)
        try:
            ready = first_answer(process, url + "/system_stats")
            ahead = float("nan")
            if after_preload:
                ahead = wait_for_log(base / "server.log", "loaded ahead of the first run") - started
            first = run_prompt(url, api_prompt(checkpoint.name, size, steps, seed=1))
            image = time.monotonic() - started
            if not list((base / "output").glob("*.png")):
                raise RuntimeError("no PNG on disk after the first prompt")
            warm = run_prompt(url, api_prompt(checkpoint.name, size, steps, seed=2))
            return FirstImage(ready - started, image, first, warm, logged_load_seconds(base / "server.log",
                                                                                       checkpoint.name), ahead)
        finally:
            stop(process)


def cli_run_seconds(checkpoint: Path, size: int, steps: int) -> float:
    """Wall time of one `latentloom run` of the default graph in a fresh process, on a fresh installation."""
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        installed = base / "models" / "checkpoints" / checkpoint.name
        installed.parent.mkdir(parents=True)
        installed.hardlink_to(checkpoint)
        command = [sys.executable, "-m", "latentloom", "run", "--base-dir", str(base),
                   str(REPO / "workflows" / "text_to_image.json"), "--set", f"4.ckpt_name={checkpoint.name}",
                   "--set", f"5.width={size}", "--set", f"5.height={size}", "--set", f"3.steps={steps}"]
        started = time.monotonic()
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        seconds = time.monotonic() - started
        if not list((base / "output").glob("*.png")):
            raise RuntimeError("no PNG on disk after `latentloom run`")
        return seconds


def measure(models: int, repeat: int) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        base = base_with_models(Path(folder), models)
        ready = []
        for _attempt in range(repeat):
            process, url, started = start(base)
            try:
                ready.append(first_answer(process, url + "/system_stats") - started)
            finally:
                stop(process)
        return ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, nargs="+", default=[0, 500])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, help="the checkpoint of the first-image runs (default: the demo "
                                                        "model)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--parts", default="rfc", help="r: HTTP ready with many model files; f: first image; c: "
                                                      "first CLI run")
    args = parser.parse_args()
    if "r" in args.parts:
        print(f"target: GET /system_stats answered <= {TARGET_SECONDS:.1f} s after the process starts")
        for count in args.models:
            ready = measure(count, args.repeat)
            median = statistics.median(ready)
            verdict = "PASS" if median <= TARGET_SECONDS else "OVER"
            print(f"{count:5d} extra model files: HTTP ready {median:.2f} s (runs: "
                  f"{', '.join(f'{r:.2f}' for r in ready)})  {median / TARGET_SECONDS:.2f}x of target  {verdict}")
    if "f" in args.parts:
        with tempfile.TemporaryDirectory() as folder:
            from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME, write_demo_checkpoint

            checkpoint = args.checkpoint or write_demo_checkpoint(Path(folder) / DEMO_CHECKPOINT_NAME)
            print(f"\nfirst image of the default graph, {args.size} px, {args.steps} steps, "
                  f"{checkpoint.name} ({checkpoint.stat().st_size / 1e6:.0f} MB); ComfyUI 0.33 (issue 18: 243 M "
                  f"fp16 checkpoint, 64 px, 10 steps): {COMFYUI_FIRST_IMAGE:.1f} s from start, target <= "
                  f"{TARGET_FIRST_IMAGE:.1f}x")
            for after_preload in (False, True):
                runs = [first_image(checkpoint, args.size, args.steps, after_preload) for _ in range(args.repeat)]
                median = lambda values: statistics.median(values)  # noqa: E731
                image, first, warm, load = (median([getattr(r, f) for r in runs])
                                            for f in ("image", "first_run", "warm_run", "load"))
                ratio = image / COMFYUI_FIRST_IMAGE
                print(f"  posted {'once the server loaded ahead' if after_preload else 'as soon as HTTP answers'}:")
                ahead = f", start -> loaded ahead {median([r.ahead for r in runs]):.2f} s" if after_preload else ""
                print(f"    start -> HTTP ready {median([r.ready for r in runs]):.2f} s{ahead}, start -> first PNG "
                      f"{image:.2f} s = {ratio:.2f}x ComfyUI's  {'PASS' if ratio <= TARGET_FIRST_IMAGE else 'OVER'}")
                print(f"    first prompt {first:.2f} s; warm run (seed changed) {warm:.2f} s + checkpoint load "
                      f"{load:.2f} s = {warm + load:.2f} s; first / (warm + load) = {first / (warm + load):.2f}x")
    if "c" in args.parts:
        with tempfile.TemporaryDirectory() as folder:
            from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME, write_demo_checkpoint

            checkpoint = args.checkpoint or write_demo_checkpoint(Path(folder) / DEMO_CHECKPOINT_NAME)
            runs = [cli_run_seconds(checkpoint, args.size, args.steps) for _ in range(args.repeat)]
            median = statistics.median(runs)
            ratio = median / COMFYUI_FIRST_PROMPT
            print(f"\nfirst `latentloom run` of the default graph in a fresh process, {args.size} px, {args.steps} "
                  f"steps, {checkpoint.name}; ComfyUI's first prompt on a warm server: {COMFYUI_FIRST_PROMPT:.1f} s, "
                  f"target <= {TARGET_CLI:.1f}x")
            print(f"  {median:.2f} s (runs: {', '.join(f'{r:.2f}' for r in runs)}) = {ratio:.2f}x  "
                  f"{'PASS' if ratio <= TARGET_CLI else 'OVER'}")


if __name__ == "__main__":
    main()
