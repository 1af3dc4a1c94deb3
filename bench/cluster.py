"""`serve --cluster ray` on this machine: how throughput scales with workers, and how many checkpoint loads the
routing rule saves against round-robin. Bounded; stops by itself.

1. Throughput: a CPU-bound text-to-image on the demo checkpoint (one CPU each worker, torch on one thread), with 1,
   2 and 3 workers, after each worker has loaded the checkpoint; prints prompts per second, the ratio to one worker
   and that ratio per core used (a worker beyond the machine's cores has none of its own).
2. Loads: a seeded mix of prompts over three checkpoints, queued at once, on three workers whose caches hold one
   checkpoint each; the model loads the workers report with `--routing affinity` and with `--routing round-robin`
   (affinity must need at most half).

    .venv/bin/python bench/cluster.py [--prompts 12] [--mix 24] [--size 256] [--steps 12]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server_process import first_answer, start, stop  # noqa: E402

TIME_LIMIT = 600.0
CHECKPOINT_RAM = "32M"  # one demo checkpoint (about 20 MB in the cache) fits, two do not


def call(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def text_to_image(checkpoint: str, seed: int, size: int, steps: int) -> dict:
    """The default text-to-image, saved as a preview (temp/) so the output folder stays clean."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {"seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
                                                   "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                                                   "positive": ["6", 0], "negative": ["7", 0],
                                                   "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}},
    }


class ClusterServer:
    """`serve --cluster ray` over `base`, up and with every worker ready."""

    def __init__(self, base: Path, *extra: str) -> None:
        self.process, self.url, _ = start(base, "--cluster", "ray", "--cpus-per-worker", "1", *extra)
        first_answer(self.process, self.url + "/cluster", timeout=120)
        self.wait(lambda workers: all(w["state"] == "idle" for w in workers), "ready")

    def workers(self) -> list[dict]:
        return call(self.url + "/cluster")["workers"]

    def wait(self, condition, what: str) -> list[dict]:
        deadline = time.monotonic() + TIME_LIMIT
        while not condition(workers := self.workers()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers were not {what} within {TIME_LIMIT} s: {workers}")
            time.sleep(0.05)
        return workers

    def run_all(self, prompts: list[dict]) -> float:
        """Queue every prompt at once; seconds until the last is in the history (each must succeed)."""
        started = time.perf_counter()
        ids = [call(self.url + "/prompt", {"prompt": prompt})["prompt_id"] for prompt in prompts]
        deadline = time.monotonic() + TIME_LIMIT
        for prompt_id in ids:
            while not (entry := call(f"{self.url}/history/{prompt_id}").get(prompt_id)):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"prompt {prompt_id} did not finish within {TIME_LIMIT} s")
                time.sleep(0.02)
            if entry["status"]["status_str"] != "success":
                raise RuntimeError(f"prompt {prompt_id} failed: {entry['status']}")
        return time.perf_counter() - started

    def stop(self) -> None:
        stop(self.process)


def installation(root: Path, checkpoints: list[str]) -> Path:
    """A base folder with the demo checkpoint under each of these names (written once, copied)."""
    from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME, write_demo_checkpoint

    folder = root / "models" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    demo = root.parent / DEMO_CHECKPOINT_NAME
    if not demo.exists():
        write_demo_checkpoint(demo)
    for name in checkpoints:
        shutil.copyfile(demo, folder / name)
    return root


def throughput(base: Path, workers: int, prompts: int, size: int, steps: int) -> float:
    server = ClusterServer(base, "--workers", str(workers), "--affinity-wait", "0")
    try:
        # one prompt per worker first: each loads the checkpoint (the first goes to an idle worker, the next to
        # another idle one, as none waits for a busy worker)
        server.run_all([text_to_image("demo.safetensors", seed, size, steps) for seed in range(workers)])
        server.wait(lambda ws: all(w["model_loads"] >= 1 for w in ws), "all warm")
        elapsed = server.run_all([text_to_image("demo.safetensors", 1000 + seed, size, steps)
                                  for seed in range(prompts)])
    finally:
        server.stop()
    return prompts / elapsed


def loads(base: Path, routing: str, mix: list[str]) -> int:
    server = ClusterServer(base, "--workers", "3", "--routing", routing, "--cache-ram", CHECKPOINT_RAM)
    try:
        server.run_all([text_to_image(checkpoint, seed, 64, 2) for seed, checkpoint in enumerate(mix)])
        return sum(worker["model_loads"] for worker in server.workers())
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=12, help="prompts timed for each worker count")
    parser.add_argument("--mix", type=int, default=24, help="prompts in the three-checkpoint mix")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="latentloom-cluster-bench-") as tmp:
        base = installation(Path(tmp) / "one", ["demo.safetensors"])
        print(f"throughput: {args.prompts} prompts of {args.size} px, {args.steps} steps, on {cores} core(s)")
        rates = {}
        for workers in (1, 2, 3):
            rates[workers] = throughput(base, workers, args.prompts, args.size, args.steps)
            used = min(workers, cores)
            ratio = rates[workers] / rates[1]
            print(f"  {workers} worker(s): {rates[workers]:.3f} prompts/s, {ratio:.2f}x one worker, "
                  f"{ratio / used:.2f} of linear on the {used} core(s) used")
        names = ["a.safetensors", "b.safetensors", "c.safetensors"]
        mixed = installation(Path(tmp) / "three", names)
        rng = random.Random(7)
        mix = [rng.choice(names) for _ in range(args.mix)]
        print(f"loads: {len(mix)} prompts over 3 checkpoints on 3 workers, caches of {CHECKPOINT_RAM} "
              "(one checkpoint each)")
        counted = {routing: loads(mixed, routing, mix) for routing in ("affinity", "round-robin")}
        for routing, count in counted.items():
            print(f"  {routing}: {count} checkpoint loads")
        print(f"  affinity needs {counted['affinity'] / counted['round-robin']:.2f} of round-robin's loads "
              "(target: at most 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
