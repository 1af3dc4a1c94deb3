"""Real servers for the web tests: `latentloom serve` in its own process on a free loopback port, over a base
folder with the demo checkpoint and a small plugin of slow and failing nodes."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A plugin the tests use to hold the worker busy (Sleep) and to fail a node on purpose (Fail).
TEST_PLUGIN = '''
import time
from graph_engine import current_context


class Sleep:
    CATEGORY = "testing"
    RETURN_TYPES = ("INT",)
    FUNCTION = "sleep"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seconds": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 600.0}),
                             "tag": ("INT", {"default": 0, "min": 0, "max": 1 << 40})}}

    def sleep(self, seconds, tag):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.02)
            current_context().progress(min(seconds, seconds - (end - time.monotonic())), seconds)
        return {"ui": {"tag": [tag]}, "result": (tag,)}


class Fail:
    CATEGORY = "testing"
    RETURN_TYPES = ()
    FUNCTION = "fail"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"message": ("STRING", {"default": "boom"})}}

    def fail(self, message):
        raise RuntimeError(message)


NODE_CLASS_MAPPINGS = {"TestSleep": Sleep, "TestFail": Fail}
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare_base(base: Path) -> Path:
    """A base folder with the demo checkpoint and the test plugin."""
    from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME, write_demo_checkpoint

    checkpoint = base / "models" / "checkpoints" / DEMO_CHECKPOINT_NAME
    if not checkpoint.exists():
        write_demo_checkpoint(checkpoint)
    (base / "custom_nodes").mkdir(parents=True, exist_ok=True)
    (base / "custom_nodes" / "latentloom_test_nodes.py").write_text(TEST_PLUGIN)
    return base


@dataclass
class LiveServer:
    url: str
    base_dir: Path
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Die at once, as a crash or a power cut would end it."""
        self.process.kill()
        self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        """Until the server's log has `text` (a step it logs when done)."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert time.monotonic() < deadline, f"the server did not log {text!r} within {timeout} s:\n{self.log()}"
            time.sleep(0.05)


def start_server(base: Path, *extra: str, port: int | None = None, wait: bool = True,
                 headers: dict | None = None, preexec_fn=None) -> LiveServer:
    """`preexec_fn` runs in the server's process before it starts (e.g. to set resource limits)."""
    port = port or free_port()
    log_path = base / f"server-{port}.log"
    env = {k: v for k, v in os.environ.items() if k != "LATENTLOOM_CUSTOM_NODES"}
    process = subprocess.Popen(
        [sys.executable, "-m", "latentloom", "serve", "--base-dir", str(base), "--port", str(port), *extra],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(log_path, "w"), preexec_fn=preexec_fn)
    server = LiveServer(f"http://127.0.0.1:{port}", base, port, process, log_path)
    if wait:
        wait_until_up(server, headers or {})
    return server


def wait_until_up(server: LiveServer, headers: dict, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(urllib.request.Request(server.url + "/prompt", headers=headers), timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"the server did not answer within {timeout} s:\n{server.log()}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """One server for the session's read-mostly tests (the canvas tests use it too)."""
    server = start_server(prepare_base(tmp_path_factory.mktemp("live")))
    yield server
    server.stop()


@pytest.fixture
def own_server(tmp_path):
    """A server of this test's own (restarts, queue order, settings); stopped at the end."""
    servers: list[LiveServer] = []

    def start(*extra: str, base: Path | None = None, **kwargs) -> LiveServer:
        server = start_server(prepare_base(base or tmp_path), *extra, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
