"""bench/gpu.py is run on a GPU machine only now and then: its CPU dry run keeps every code path working meanwhile
(checkpoint writing, the SDXL bare loop's size conditioning, the fresh-process engine run in --lowvram, the tables)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu.py"


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SCRIPT.parents[1])}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the script would measure")
def test_without_cuda_the_script_says_so_and_exits_0(tmp_path):
    done = run_script(cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "no CUDA device" in done.stdout


def test_the_dry_run_samples_sdxl_against_the_bare_loop_and_saves_a_png_in_lowvram(tmp_path):
    done = run_script("--dry-run", "--shapes", "sdxl", "--modes", "lowvram", "--work-dir", str(tmp_path),
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    speed = [line for line in done.stdout.splitlines() if line.strip().startswith("sdxl") and " px " in line]
    assert [line.split()[3] for line in speed] == ["default", "channels-last"]
    for line in speed:  # the bare loop got the KSampler's size conditioning: the same latent
        assert float(line.split()[-3]) < 1e-3, line
    assert list((tmp_path / "output").glob("bench-gpu-lowvram*.png"))
