"""Starting `latentloom serve` in a process of its own for the server benchmarks (loopback only)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(base: Path, *extra: str) -> tuple[subprocess.Popen, str, float]:
    """(process, base URL, monotonic start time); the server logs to BASE/server.log."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "LATENTLOOM_CUSTOM_NODES"}
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "latentloom", "serve", "--base-dir", str(base), "--port",
                                str(port), "--disable-custom-nodes", *extra], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=open(base / "server.log", "w"))
    return process, f"http://127.0.0.1:{port}", started


def first_answer(process: subprocess.Popen, url: str, timeout: float = 60) -> float:
    """Poll `url` until it answers 200; returns the monotonic time of that answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return time.monotonic()
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def rss_bytes(process: subprocess.Popen) -> int:
    with open(f"/proc/{process.pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
