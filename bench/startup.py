"""Start-up of `latentloom serve`: time to the first answered GET /system_stats, then the first text-to-image run.

Target: HTTP ready in <= 2 s on this machine, whatever the number of installed models (measured with none and
with many model files; the loaders read a file only when a workflow uses it).

    .venv/bin/python bench/startup.py [--models 0 500] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server_process import REPO, first_answer, start, stop  # noqa: E402

TARGET_SECONDS = 2.0


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


def first_image(url: str, timeout: float = 300) -> float:
    """Seconds from POST /prompt of the default workflow (512 px, 20 steps) to its history entry."""
    prompt = json.loads((REPO / "workflows" / "text_to_image.json").read_text())
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
        time.sleep(0.05)
    raise RuntimeError("the first image did not finish in time")


def measure(models: int, repeat: int, with_image: bool) -> tuple[list[float], float | None]:
    with tempfile.TemporaryDirectory() as folder:
        base = base_with_models(Path(folder), models)
        ready, image = [], None
        for attempt in range(repeat):
            process, url, started = start(base)
            try:
                ready.append(first_answer(process, url + "/system_stats") - started)
                if with_image and attempt == 0:
                    image = first_image(url)
            finally:
                stop(process)
        return ready, image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[0, 500])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"target: GET /system_stats answered <= {TARGET_SECONDS:.1f} s after the process starts")
    for count in args.models:
        ready, image = measure(count, args.repeat, with_image=count == args.models[0])
        median = statistics.median(ready)
        verdict = "PASS" if median <= TARGET_SECONDS else "OVER"
        print(f"{count:5d} extra model files: HTTP ready {median:.2f} s (runs: "
              f"{', '.join(f'{r:.2f}' for r in ready)})  {median / TARGET_SECONDS:.2f}x of target  {verdict}")
        if image is not None:
            print(f"      first text-to-image after start (512 px, 20 steps, demo model): {image:.1f} s")


if __name__ == "__main__":
    main()
