"""The engine, the CLI and the utility nodes work without torch, diffusers or transformers; text-to-image needs only
torch (the UNet, VAE and CLIP text models are our own: importing diffusers costs a first run seconds, issue 18)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UTILITY = REPO / "workflows" / "utility_example.json"
TEXT_TO_IMAGE = REPO / "workflows" / "text_to_image.json"
HEAVY = ("torch", "diffusers", "transformers")


def python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LATENTLOOM_CUSTOM_NODES"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_engine_cli_and_nodes_work_when_heavy_libraries_cannot_be_imported(tmp_path):
    done = python(f"""
        import sys
        for name in {HEAVY!r}:
            sys.modules[name] = None  # `import name` now raises ImportError
        for name in {HEAVY!r}:
            try:
                __import__(name)
            except ImportError:
                pass
            else:
                raise SystemExit("the block on " + name + " does not work")

        import graph_engine
        import latentloom.cli
        import nodes

        code = latentloom.cli.main(["run", {str(UTILITY)!r}, "--json", "--base-dir", {str(tmp_path)!r}])
        print("EXIT", code)
        """, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    *outputs, last = done.stdout.strip().splitlines()
    assert last == "EXIT 0", done.stdout
    assert json.loads("\n".join(outputs)) == {"4": {"text": ["42"]}, "7": {"text": ["Hello, Latentloom"]},
                                              "8": {"text": ["17"]}}


def test_listing_nodes_and_running_utility_nodes_do_not_import_torch(tmp_path):
    done = python(f"""
        import sys
        import latentloom.cli

        assert latentloom.cli.main(["nodes", "--json", "--base-dir", {str(tmp_path)!r}]) == 0
        print("AFTER_NODES", sorted(m for m in {HEAVY!r} if m in sys.modules))
        assert latentloom.cli.main(["run", {str(UTILITY)!r}, "--base-dir", {str(tmp_path)!r}]) == 0
        print("AFTER_RUN", sorted(m for m in {HEAVY!r} if m in sys.modules))
        """, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "AFTER_NODES []" in lines, done.stdout[-2000:]
    assert "AFTER_RUN []" in lines, done.stdout[-2000:]


def test_text_to_image_runs_when_diffusers_and_transformers_cannot_be_imported(tmp_path):
    from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME, write_demo_checkpoint

    write_demo_checkpoint(tmp_path / "models" / "checkpoints" / DEMO_CHECKPOINT_NAME)
    done = python(f"""
        import sys
        for name in ("diffusers", "transformers"):
            sys.modules[name] = None  # `import name` now raises ImportError

        import latentloom.cli

        code = latentloom.cli.main(["run", {str(TEXT_TO_IMAGE)!r}, "--base-dir", {str(tmp_path)!r},
                                    "--set", "5.width=64", "--set", "5.height=64", "--set", "3.steps=2"])
        print("EXIT", code)
        """, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "EXIT 0", done.stdout + done.stderr[-3000:]
    saved = list((tmp_path / "output").glob("*.png"))
    assert len(saved) == 1
