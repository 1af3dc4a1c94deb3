"""`latentloom models list` on 200 model files with real-size headers: the second run (hashes cached) in <= 2 s.

The files are sparse: each header is what a real file of that kind has (full SD1.5 / SDXL checkpoint key sets
and shapes, kohya LoRAs over every attention layer of SD1 with trainer metadata, VAEs, embeddings), the tensor
bytes are holes, so the folder costs no disk but every byte is still read and hashed on the first run.

    .venv/bin/python bench/models_list.py [--checkpoints 8] [--loras 172] [--others 20]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 2.0

from tests.fixtures.sparse_safetensors import write_sparse_safetensors  # noqa: E402 - after the path is set


def kohya_lora_shapes(layout, rank: int = 16) -> dict[str, tuple[int, ...]]:
    """kohya names for every attention/feed-forward linear of the UNet and the text encoder's layers."""
    import torch

    shapes = {}
    targets = [("lora_unet_", layout.unet, ("attentions",)), ("lora_te_", layout.text_encoders[0], ("layers",))]
    for prefix, module, inside in targets:
        for name, child in module.named_modules():
            if isinstance(child, torch.nn.Linear) and any(part in name for part in inside):
                key = prefix + name.replace(".", "_")
                shapes[f"{key}.lora_down.weight"] = (rank, child.in_features)
                shapes[f"{key}.lora_up.weight"] = (child.out_features, rank)
                shapes[f"{key}.alpha"] = ()
    return shapes


def build_folder(root: Path, checkpoints: int, loras: int, others: int) -> int:
    from tests.fixtures.tiny_checkpoints import full_size_layout

    sd1 = full_size_layout("SD1.x")
    sdxl = full_size_layout("SDXL")
    tags = json.dumps({"10_subject": {f"tag{n}": 100 - n for n in range(60)}})
    lora_shapes = kohya_lora_shapes(sd1)
    for index in range(checkpoints):
        layout = sdxl if index % 4 == 3 else sd1
        write_sparse_safetensors(root / "checkpoints" / f"checkpoint_{index:03}.safetensors", layout.shapes, {})
    for index in range(loras):
        metadata = {"ss_base_model_version": "sd_v1", "ss_network_dim": "16", "ss_network_alpha": "8",
                    "ss_network_module": "networks.lora", "ss_tag_frequency": tags, "ss_output_name": f"lora{index}"}
        write_sparse_safetensors(root / "loras" / f"set{index // 50}" / f"lora_{index:03}.safetensors",
                                 lora_shapes, metadata)
    vae_shapes = {key.removeprefix("first_stage_model."): shape for key, shape in sd1.shapes.items()
                  if key.startswith("first_stage_model.")}
    for index in range(others):
        if index % 2:
            write_sparse_safetensors(root / "vae" / f"vae_{index:03}.safetensors", vae_shapes, {})
        else:
            write_sparse_safetensors(root / "embeddings" / f"embedding_{index:03}.safetensors",
                                     {"emb_params": (8, 768)}, {})
    return checkpoints + loras + others


def timed_list(base: Path) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "latentloom", "models", "list", "--json", "--base-dir", str(base)],
                          cwd=REPO, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, len(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=8)
    parser.add_argument("--loras", type=int, default=172)
    parser.add_argument("--others", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        count = build_folder(base / "models", args.checkpoints, args.loras, args.others)
        apparent = sum(f.stat().st_size for f in (base / "models").rglob("*") if f.is_file())
        first, listed = timed_list(base)
        second, listed_again = timed_list(base)
        third, _ = timed_list(base)
        os.sync()
    assert listed == listed_again == count, (listed, listed_again, count)
    best = min(second, third)
    print(f"{count} model files, {apparent / 1e9:.1f} GB (sparse), all listed")
    print(f"first run (hashes every byte):  {first:.2f} s")
    print(f"second and third run (cached):  {second:.2f} s, {third:.2f} s")
    print(f"cached run vs {TARGET_SECONDS:.0f} s target:       {best / TARGET_SECONDS:.2f}x  "
          f"{'PASS' if best <= TARGET_SECONDS else 'OVER'}")


if __name__ == "__main__":
    main()
