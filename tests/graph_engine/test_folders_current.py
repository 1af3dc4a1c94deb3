"""The installation's folders are current around every call the engine makes into node code, and only there: two
engines over two installations in one process (even in two threads at once) each see their own."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from graph_engine import (Engine, Folders, NodeEstimate, NodeRegistry, NoFoldersError, current_folders,
                          discover_plugins, load_plugins, using_folders)

SEEN: list[tuple[str, Folders]] = []  # (hook, the folders current when the engine called it)


def _seen(hook: str) -> Folders:
    folders = current_folders()
    SEEN.append((hook, folders))
    return folders


class Number:
    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1})}}

    def run(self, value):
        return (value,)


class Probe:
    """A node whose every hook records the folders current when it is called; its one combo lists the name of the
    current installation's base folder, as a loader lists that installation's model files."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    OUTPUT_NODE = True
    meet: threading.Barrier | None = None  # set by the thread test: both runs wait for each other inside a node

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"installation": ([_seen("INPUT_TYPES").base.name],),
                             "value": ("INT", {"default": 0, "lazy": True})}}

    @classmethod
    def VALIDATE_INPUTS(cls, value):  # not `installation`: its choices are checked by the engine
        _seen("VALIDATE_INPUTS")
        return True

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        _seen("ESTIMATE_MEMORY")
        return NodeEstimate((None,), 0)

    @classmethod
    def CHOICES_HINT(cls, input_name):
        return f"installations are named after {_seen('CHOICES_HINT').base.name}"

    @classmethod
    def IS_CHANGED(cls, installation, value=None):
        _seen("IS_CHANGED")
        return installation

    def check_lazy_status(self, installation, value=None):
        _seen("check_lazy_status")
        return ["value"]

    def run(self, installation, value):
        folders = _seen("run")
        if Probe.meet is not None:
            Probe.meet.wait(timeout=60)
        return {"ui": {"base": [folders.base.name]}, "result": (value,)}


@pytest.fixture
def engines(tmp_path) -> dict[str, Engine]:
    made = {}
    for name in ("alpha", "beta"):
        folders = Folders.under(tmp_path / name)
        registry = NodeRegistry()
        with using_folders(folders):  # as start-up registers nodes
            registry.register_mappings({"Number": Number, "Probe": Probe}, source="test")
        made[name] = Engine(registry, folders)
    SEEN.clear()
    yield made
    SEEN.clear()
    Probe.meet = None


def probe(installation: str) -> dict:
    return {"n": {"class_type": "Number", "inputs": {"value": 5}},
            "p": {"class_type": "Probe", "inputs": {"installation": installation, "value": ["n", 0]}}}


def seen_hooks() -> list[str]:
    return [hook for hook, _ in SEEN]


def test_every_hook_sees_the_calling_engine_s_folders_and_none_is_current_afterwards(engines):
    alpha, beta = engines["alpha"], engines["beta"]
    assert alpha.validate(probe("alpha")).ok
    assert seen_hooks() == ["VALIDATE_INPUTS", "ESTIMATE_MEMORY"]
    assert all(folders is alpha.folders for _, folders in SEEN)
    SEEN.clear()

    report = beta.validate(probe("alpha"))  # alpha's value is not in beta's list, even read again
    (error,) = report.node_errors["p"].errors
    assert error.type == "value_not_in_list" and "installations are named after beta" in error.message
    assert seen_hooks() == ["INPUT_TYPES", "CHOICES_HINT"]
    assert all(folders is beta.folders for _, folders in SEEN)
    SEEN.clear()

    result = beta.run(probe("beta"))
    assert result.ok and result.outputs["p"] == {"base": ["beta"]}
    assert list(dict.fromkeys(seen_hooks())) == ["VALIDATE_INPUTS", "ESTIMATE_MEMORY", "IS_CHANGED",
                                                 "check_lazy_status", "run"]  # asked again once its input is there
    assert all(folders is beta.folders for _, folders in SEEN)
    SEEN.clear()

    assert alpha.object_info()["Probe"]["input"]["required"]["installation"][0] == ["alpha"]
    assert beta.refresh("Probe").inputs["installation"].choices == ("beta",)
    assert [folders for _, folders in SEEN] == [alpha.folders, beta.folders]
    with pytest.raises(NoFoldersError, match="using_folders"):
        current_folders()


def test_validated_in_one_order_run_in_another(engines):
    alpha, beta = engines["alpha"], engines["beta"]
    prompts = {name: probe(name) for name in engines}
    reports = {name: engine.validate(prompts[name]) for name, engine in engines.items()}
    SEEN.clear()
    ran_beta = beta.execute(reports["beta"], prompts["beta"])
    ran_alpha = alpha.execute(reports["alpha"], prompts["alpha"])
    assert ran_beta.outputs["p"] == {"base": ["beta"]} and ran_alpha.outputs["p"] == {"base": ["alpha"]}
    assert [folders.base.name for hook, folders in SEEN if hook == "run"] == ["beta", "alpha"]


def test_two_engines_running_at_once_in_two_threads_each_see_their_own(engines):
    Probe.meet = threading.Barrier(2)  # each run waits inside its node until the other is inside its own
    results = {}

    def run(name: str) -> None:
        results[name] = engines[name].run(probe(name))

    threads = [threading.Thread(target=run, args=(name,)) for name in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert {name: result.outputs["p"]["base"] for name, result in results.items()} == {"alpha": ["alpha"],
                                                                                     "beta": ["beta"]}
    assert all(folders is engines[name].folders for name in engines for hook, folders in SEEN
               if hook == "run" and folders.base.name == name)
    assert sorted(folders.base.name for hook, folders in SEEN if hook == "run") == ["alpha", "beta"]


def test_a_plugin_importing_on_its_own_thread_sees_the_folders_of_the_engine_loading_it(tmp_path):
    plugins = tmp_path / "custom_nodes"
    plugins.mkdir()
    (plugins / "reads_its_folders.py").write_text(
        "from pathlib import Path\n"
        "from graph_engine import current_folders\n"
        "(Path(__file__).parent / 'seen.txt').write_text(str(current_folders().input))\n"
        "NODE_CLASS_MAPPINGS = {}\n")
    folders = Folders.under(tmp_path / "base", input=tmp_path / "pictures")
    with using_folders(folders):
        (report,) = load_plugins(NodeRegistry(), discover_plugins([plugins]), import_timeout=30)
    assert report.ok, report.error
    assert (plugins / "seen.txt").read_text() == str(Path(tmp_path / "pictures").resolve())
