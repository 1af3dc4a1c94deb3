"""The C heap as the engine sets it up: a node reuses the CPU memory it freed instead of faulting it in again, and the
memory goes back to the system once the node returns (nodes/runtime/devices/host_heap.py, latentloom/startup.py)."""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
STEP_BLOCKS_MIB = (48, 20, 3, 48)
STEP_BYTES = sum(STEP_BLOCKS_MIB) * 2**20

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="the heap settings are glibc's")

PLUGIN = textwrap.dedent(f"""
    import resource

    import torch

    def step_faults():
        # page faults while one sampling-like step fills its scratch tensors (two over glibc's 32 MiB mapping
        # limit), which are all freed when the step ends
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        blocks = [torch.ones(mib * 2**20, dtype=torch.uint8) for mib in {STEP_BLOCKS_MIB}]
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        del blocks
        return faults

    class HeapProbe:
        CATEGORY = "tests"
        RETURN_TYPES = ()
        FUNCTION = "run"
        OUTPUT_NODE = True

        @classmethod
        def INPUT_TYPES(cls):
            return {{"required": {{"steps": ("INT", {{"default": 12}})}}}}

        def run(self, steps):
            return {{"ui": {{"faults": [step_faults() for _ in range(steps)]}}}}

    NODE_CLASS_MAPPINGS = {{"HeapProbe": HeapProbe}}
    """)

RUN = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from latentloom.startup import Options, build_engine

    def rss():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))

    base = Path(sys.argv[2])
    engine, _ = build_engine(Options(base_dir=base, extra_custom_nodes=[base / "plugins"]))
    before = rss()
    result = engine.run({"1": {"class_type": "HeapProbe", "inputs": {"steps": 12}}})
    assert result.ok, result.error
    print(json.dumps({"before": before, "after": rss(), "faults": result.outputs["1"]["faults"]}))
    """)


def test_a_node_reuses_the_memory_it_freed_and_the_system_gets_it_back_after(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "ll_heap_probe.py").write_text(PLUGIN)
    done = subprocess.run([sys.executable, "-c", RUN, str(REPO), str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    pages = STEP_BYTES // 4096
    faults = report["faults"]
    assert faults[0] >= pages // 2  # the first step faults its fresh memory in (4 KiB pages or larger)...
    assert max(faults[-4:]) < pages // 20, faults  # ...later ones reuse what the step before freed
    assert report["after"] - report["before"] < STEP_BYTES // 2  # and it goes back once the node returns
