"""Loading ahead of the first run: it covers what the run imports, a failing step is reported and changes nothing,
and the image is the one a run without it makes."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from nodes.runtime.preload import PreloadStep, import_step, preload

REPO = Path(__file__).resolve().parents[3]
WORKFLOW = REPO / "workflows" / "text_to_image.json"

# a fresh interpreter: loads ahead (after a step that fails), then runs the default graph and names every module of
# the model and image libraries, or of ours, that the run itself still had to import
FIRST_RUN = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from nodes.runtime.preload import FIRST_RUN_STEPS, PreloadStep, preload

def broken():
    raise OSError("disk on fire")

report = preload((PreloadStep("a broken step", broken), *FIRST_RUN_STEPS))
from latentloom.startup import Options, build_engine
from latentloom.workflow_files import read_any_workflow

engine, _ = build_engine(Options(base_dir=sys.argv[2], disable_custom_nodes=True))
prompt = read_any_workflow(sys.argv[3], engine.registry, engine.folders)
prompt["5"]["inputs"].update(width=64, height=64)
prompt["3"]["inputs"]["steps"] = 1
before = set(sys.modules)
result = engine.run(prompt)
heavy = sorted(m for m in set(sys.modules) - before
               if m.split(".")[0] in ("torch", "diffusers", "transformers", "instant_clip_tokenizer", "safetensors", "PIL",
                                      "isal", "nodes", "graph_engine", "model_library", "latentloom"))
print(json.dumps({"failed": report.failed, "ok": result.ok, "error": str(result.error), "imported_by_run": heavy,
                  "images": result.outputs["9"]["images"]}))
"""


@pytest.fixture
def demo_base(tmp_path) -> Path:
    from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME, write_demo_checkpoint

    write_demo_checkpoint(tmp_path / "models" / "checkpoints" / DEMO_CHECKPOINT_NAME)
    return tmp_path


def test_after_loading_ahead_the_first_run_imports_none_of_the_model_libraries(demo_base):
    done = subprocess.run([sys.executable, "-c", FIRST_RUN, str(REPO), str(demo_base), str(WORKFLOW)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["failed"] == {"a broken step": "OSError: disk on fire"}
    assert outcome["ok"], outcome["error"]
    assert outcome["imported_by_run"] == []
    assert "could not load a broken step ahead of the first run (OSError: disk on fire)" in done.stderr

    # the same graph run in this process, which never loaded ahead, saves the same pixels
    from PIL import Image

    from latentloom.startup import Options, build_engine
    from latentloom.workflow_files import read_any_workflow

    engine, _ = build_engine(Options(base_dir=demo_base, disable_custom_nodes=True))
    prompt = read_any_workflow(WORKFLOW, engine.registry, engine.folders)
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"]["steps"] = 1
    result = engine.run(prompt)
    assert result.ok, result.error
    preloaded, here = (demo_base / "output" / outcome["images"][0]["filename"],
                       demo_base / "output" / result.outputs["9"]["images"][0]["filename"])
    assert preloaded != here
    assert Image.open(preloaded).tobytes() == Image.open(here).tobytes()


def test_a_failing_step_is_named_with_its_reason_and_the_others_still_run(caplog):
    def refuse():
        raise RuntimeError("no room")

    steps = (import_step("latentloom_no_such_module"), PreloadStep("the refusing step", refuse), import_step("json"))
    with caplog.at_level(logging.WARNING, logger="nodes.runtime.preload"):
        report = preload(steps)
    assert report.loaded == ["json"]
    assert report.failed["the refusing step"] == "RuntimeError: no room"
    assert report.failed["latentloom_no_such_module"].startswith("ModuleNotFoundError: ")
    warned = [record.getMessage() for record in caplog.records]
    assert any("latentloom_no_such_module" in line and "the first run will load it itself" in line for line in warned)
    assert any("the refusing step" in line and "no room" in line for line in warned)


def test_the_steps_run_with_the_cyclic_collector_paused_and_it_is_back_on_after_even_when_a_step_fails():
    import gc

    seen = []

    def record():
        seen.append(gc.isenabled())

    def refuse():
        seen.append(gc.isenabled())
        raise RuntimeError("no room")

    assert gc.isenabled()
    report = preload((PreloadStep("recording", record), PreloadStep("refusing", refuse)))
    assert seen == [False, False]
    assert report.loaded == ["recording"] and "refusing" in report.failed
    assert gc.isenabled()


# the server's preload hook, in a fresh interpreter (it freezes what the process holds, which a test process must not)
SERVER_PRELOAD = r"""
import gc, json, sys, threading, weakref
sys.path.insert(0, sys.argv[1])
from latentloom.serving import load_ahead_and_freeze

class Node:
    pass

load_ahead_and_freeze(threading.Event())
frozen = gc.get_freeze_count()
after = Node()
after.self = after
gone = weakref.ref(after)
del after
gc.collect()
print(json.dumps({"frozen": frozen, "enabled": gc.isenabled(), "later_cycle_collected": gone() is None,
                  "torch_loaded": "torch" in sys.modules}))
"""


def test_the_server_freezes_what_it_loaded_ahead_and_still_collects_later_garbage():
    done = subprocess.run([sys.executable, "-c", SERVER_PRELOAD, str(REPO)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["torch_loaded"] and outcome["enabled"] and outcome["later_cycle_collected"]
    assert outcome["frozen"] > 50_000  # the libraries' objects: a full collection no longer walks them
