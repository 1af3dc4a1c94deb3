"""The memory a process can still allocate: the system's available memory, capped by the process's own limits."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from graph_engine.memory import available_memory, system_available_memory

REPO = Path(__file__).resolve().parents[2]


def test_without_limits_it_is_the_systems_available_memory():
    system = system_available_memory()
    assert system is not None and system > 0
    assert abs(available_memory() - system) < max(system // 10, 256 << 20)  # the system's number moves a little


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
@pytest.mark.parametrize("limit", ["RLIMIT_AS", "RLIMIT_DATA"])
def test_a_process_limit_caps_it_at_the_room_left_under_the_limit(limit):
    code = textwrap.dedent(f"""
        import resource
        from graph_engine.memory import available_memory

        used = {{line.split(":")[0]: int(line.split()[1]) * 1024 for line in open("/proc/self/status")
                 if line.startswith(("VmSize:", "VmData:"))}}
        field = "VmSize" if "{limit}" == "RLIMIT_AS" else "VmData"
        room = 300 << 20
        resource.setrlimit(resource.{limit}, (used[field] + room, resource.getrlimit(resource.{limit})[1]))
        print(room, available_memory())
        """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    room, available = map(int, done.stdout.split())
    assert room - (50 << 20) < available <= room  # what the process allocated since it read its usage is not room
