"""Plugins: discovery in folders and entry points, isolated import, failure reports, name clashes."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nodes as builtin_nodes
from graph_engine import Engine, Folders, NodeRegistry, discover_plugins, load_plugins
from tests.fixtures.plugin_sources import node_class
from tests.fixtures.registries import builtin_registry

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PLUGINS = REPO / "custom_nodes"


# --- helpers -----------------------------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def good_module(*names: str) -> str:
    body = "".join(node_class(n, add=i + 1) for i, n in enumerate(names))
    return body + f"\nNODE_CLASS_MAPPINGS = {{{', '.join(f'{n!r}: {n}' for n in names)}}}\n"


def registry_with_builtins() -> NodeRegistry:
    return builtin_registry()


def load_folder(folder: Path, registry: NodeRegistry | None = None, allow=None, import_timeout=None):
    registry = registry if registry is not None else registry_with_builtins()
    sources = [s for s in discover_plugins([folder]) if s.path is not None]
    reports = load_plugins(registry, sources, allow=allow, import_timeout=import_timeout)
    return registry, {r.name: r for r in reports}


def modules_under(folder: Path) -> list[str]:
    """Names in sys.modules whose file lies in `folder`."""
    folder = folder.resolve()
    found = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(folder):
            found.append(name)
    return found


@pytest.fixture(autouse=True)
def forget_plugin_modules(tmp_path):
    """Plugins imported by a test are forgotten afterwards, so tests do not see each other's modules."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        file = getattr(sys.modules[name], "__file__", None)
        if file and any(Path(file).resolve().is_relative_to(root) for root in (tmp_path.resolve(), EXAMPLE_PLUGINS)):
            del sys.modules[name]


def run_workflow(registry: NodeRegistry, prompt: dict, tmp_path: Path):
    engine = Engine(registry, Folders.under(tmp_path / "base"))
    report = engine.validate(prompt)
    assert report.ok, report.lines()
    return engine.run(prompt)


# --- the shipped example plugin -------------------------------------------------------------------------------------


def test_shipped_example_plugin_loads_its_three_nodes(tmp_path):
    registry, reports = load_folder(EXAMPLE_PLUGINS)
    report = reports["example_nodes"]
    assert report.ok, report.error
    assert sorted(report.nodes) == ["ExampleJoinWords", "ExampleRepeatText", "ExampleSplitWords"]
    assert report.refused == []
    assert report.location == str(EXAMPLE_PLUGINS / "example_nodes")
    assert report.seconds >= 0
    spec = registry.get("ExampleRepeatText")
    assert spec.display_name == "Repeat Text (example)"
    assert "example_nodes" in spec.source and spec.source != "built-in"


def test_shipped_example_workflow_runs_through_the_engine(tmp_path):
    registry, reports = load_folder(EXAMPLE_PLUGINS)
    assert reports["example_nodes"].ok
    prompt = json.loads((REPO / "workflows" / "example_plugin.json").read_text())
    result = run_workflow(registry, prompt, tmp_path)
    assert result.status == "success", result.error
    # split into 4 words, StringLength and PreviewAny run once per word
    assert result.outputs["3"] == {"text": ["6", "2", "5", "5"]}
    assert result.outputs["6"] == {"text": ["graphs+of+typed+nodes | graphs+of+typed+nodes"]}


# --- good plugins ---------------------------------------------------------------------------------------------------


def test_package_plugin_and_single_module_plugin(tmp_path):
    folder = tmp_path / "custom_nodes"
    write(folder / "ll_pkg_plugin" / "__init__.py", good_module("PkgNodeA", "PkgNodeB"))
    write(folder / "ll_single_plugin.py", good_module("SingleNode"))
    sources = {s.name: s for s in discover_plugins([folder]) if s.path is not None}
    assert sources["ll_pkg_plugin"].path == folder / "ll_pkg_plugin"
    assert sources["ll_single_plugin"].path == folder / "ll_single_plugin.py"

    registry, reports = load_folder(folder)
    assert reports["ll_pkg_plugin"].ok and sorted(reports["ll_pkg_plugin"].nodes) == ["PkgNodeA", "PkgNodeB"]
    assert reports["ll_single_plugin"].ok and reports["ll_single_plugin"].nodes == ["SingleNode"]
    prompt = {
        "1": {"class_type": "PkgNodeB", "inputs": {"x": 40}},  # + 2
        "2": {"class_type": "SingleNode", "inputs": {"x": ["1", 0]}},  # + 1
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }
    result = run_workflow(registry, prompt, tmp_path)
    assert result.status == "success", result.error
    assert result.outputs["3"] == {"text": ["43"]}


def test_discovery_skips_disabled_hidden_private_and_non_python_entries(tmp_path):
    folder = tmp_path / "custom_nodes"
    write(folder / "ll_kept.py", good_module("KeptNode"))
    write(folder / "ll_off.py.disabled", good_module("OffNode"))
    write(folder / "ll_off_pkg.disabled" / "__init__.py", good_module("OffPkgNode"))
    write(folder / ".ll_hidden" / "__init__.py", good_module("HiddenNode"))
    write(folder / "__pycache__" / "__init__.py", good_module("CacheNode"))
    write(folder / "README.md", "not a plugin")
    write(folder / "ll_not_a_package" / "stuff.py", good_module("LooseNode"))
    names = [s.name for s in discover_plugins([folder]) if s.path is not None]
    assert names == ["ll_kept"]


def test_missing_plugin_folder_is_skipped_with_a_warning(tmp_path, caplog):
    missing = tmp_path / "nowhere"
    with caplog.at_level(logging.WARNING):
        sources = [s for s in discover_plugins([missing]) if s.path is not None]
    assert sources == []
    assert str(missing) in caplog.text


def test_relative_imports_inside_a_package_plugin(tmp_path):
    folder = tmp_path / "custom_nodes"
    package = folder / "ll-rel-plugin"  # a hyphen, as in many real plugin folders
    write(package / "__init__.py", """
        from .nodes_impl import RelNode
        from . import helpers
        from .sub.deep import OFFSET

        NODE_CLASS_MAPPINGS = {"RelNode": RelNode}
        NODE_DISPLAY_NAME_MAPPINGS = {"RelNode": helpers.LABEL}
        """)
    write(package / "helpers.py", """
        LABEL = "Relative Node"
        def double(x):
            return 2 * x
        """)
    write(package / "sub" / "__init__.py", "")
    write(package / "sub" / "deep.py", "OFFSET = 5\n")
    write(package / "nodes_impl.py", """
        from .helpers import double
        from .sub.deep import OFFSET

        class RelNode:
            CATEGORY = "tests"
            RETURN_TYPES = ("INT",)
            FUNCTION = "run"

            @classmethod
            def INPUT_TYPES(cls):
                return {"required": {"x": ("INT", {})}}

            def run(self, x):
                return (double(x) + OFFSET,)
        """)
    registry, reports = load_folder(folder)
    report = reports["ll-rel-plugin"]
    assert report.ok, report.error
    assert report.nodes == ["RelNode"]
    assert registry.get("RelNode").display_name == "Relative Node"
    prompt = {"1": {"class_type": "RelNode", "inputs": {"x": 10}},
              "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    assert run_workflow(registry, prompt, tmp_path).outputs["2"] == {"text": ["25"]}


def test_plugin_named_like_an_imported_module_does_not_replace_it(tmp_path):
    folder = tmp_path / "custom_nodes"
    write(folder / "json" / "__init__.py", "from .impl import NODE_CLASS_MAPPINGS\n")
    write(folder / "json" / "impl.py", good_module("JsonPluginNode"))
    real_json = sys.modules["json"]
    registry, reports = load_folder(folder)
    assert reports["json"].ok, reports["json"].error
    assert reports["json"].nodes == ["JsonPluginNode"]
    assert sys.modules["json"] is real_json
    assert json.dumps({"a": 1}) == '{"a": 1}'


def test_two_plugins_with_the_same_folder_name_both_load(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    write(first / "ll_same" / "__init__.py", good_module("SameNameFirst"))
    write(second / "ll_same" / "__init__.py", good_module("SameNameSecond"))
    registry = registry_with_builtins()
    sources = [s for s in discover_plugins([first, second]) if s.path is not None]
    reports = load_plugins(registry, sources)
    assert [r.ok for r in reports] == [True, True], [r.error for r in reports]
    assert "SameNameFirst" in registry and "SameNameSecond" in registry
    assert registry.get("SameNameFirst").cls is not registry.get("SameNameSecond").cls


# --- failing plugins ------------------------------------------------------------------------------------------------

FAILURES = {
    # name: (files relative to the plugin folder, text the reason must contain)
    "ll_raises": ({"ll_raises.py": "raise RuntimeError('plugin exploded at import')\n"}, "plugin exploded at import"),
    "ll_missing_dep": ({"ll_missing_dep/__init__.py": "import ll_no_such_dependency_xyz\n"},
                       "ll_no_such_dependency_xyz"),
    "ll_syntax": ({"ll_syntax.py": "def broken(:\n    pass\n"}, "SyntaxError"),
    "ll_exits": ({"ll_exits.py": "import sys\nsys.exit('plugin wants out')\n"}, "SystemExit"),
    "ll_no_mappings": ({"ll_no_mappings.py": "X = 1\n"}, "NODE_CLASS_MAPPINGS"),
    "ll_mappings_list": ({"ll_mappings_list.py": good_module("ListNode").replace(
        "NODE_CLASS_MAPPINGS = {'ListNode': ListNode}", "NODE_CLASS_MAPPINGS = [ListNode]")}, "dict"),
}


@pytest.mark.parametrize("import_timeout", [None, 30.0], ids=["this-thread", "import-thread"])
@pytest.mark.parametrize("name", list(FAILURES))
def test_a_failing_plugin_is_reported_and_the_others_still_load(tmp_path, caplog, name, import_timeout):
    folder = tmp_path / "custom_nodes"
    files, reason = FAILURES[name]
    for relative, text in files.items():
        write(folder / relative, text)
    # good plugins sorted before and after the bad one
    write(folder / "ll_aaa_good.py", good_module("BeforeNode"))
    write(folder / "ll_zzz_good" / "__init__.py", good_module("AfterNode"))
    location = folder / next(iter(files)).split("/")[0]

    with caplog.at_level(logging.INFO):
        registry, reports = load_folder(folder, import_timeout=import_timeout)

    report = reports[name]
    assert not report.ok
    assert report.nodes == []
    assert reason in report.error
    assert report.location == str(location)
    failure_lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(name in line and str(location) in line and reason in line for line in failure_lines), failure_lines
    assert reports["ll_aaa_good"].ok and reports["ll_aaa_good"].nodes == ["BeforeNode"]
    assert reports["ll_zzz_good"].ok and reports["ll_zzz_good"].nodes == ["AfterNode"]
    assert "BeforeNode" in registry and "AfterNode" in registry and "ListNode" not in registry


@pytest.mark.parametrize("import_timeout", [None, 30.0], ids=["this-thread", "import-thread"])
@pytest.mark.parametrize("name", ["ll_raises", "ll_missing_dep", "ll_syntax", "ll_exits"])
def test_a_plugin_that_fails_to_import_leaves_no_module_behind(tmp_path, name, import_timeout):
    folder = tmp_path / "custom_nodes"
    for relative, text in FAILURES[name][0].items():
        write(folder / relative, text)
    _, reports = load_folder(folder, import_timeout=import_timeout)
    assert not reports[name].ok
    assert modules_under(folder) == []


def test_a_package_failing_after_importing_its_submodules_leaves_none_of_them(tmp_path):
    folder = tmp_path / "custom_nodes"
    package = folder / "ll_half_done"
    write(package / "__init__.py", """
        from .first import VALUE
        from .inner import second
        raise ImportError("needs a library that is not installed")
        """)
    write(package / "first.py", "VALUE = 1\n")
    write(package / "inner" / "__init__.py", "")
    write(package / "inner" / "second.py", "VALUE = 2\n")
    _, reports = load_folder(folder)
    assert "needs a library that is not installed" in reports["ll_half_done"].error
    assert modules_under(folder) == []
    assert not [m for m in sys.modules if "ll_half_done" in m]


def test_one_bad_class_is_refused_alone_with_its_reason(tmp_path, caplog):
    folder = tmp_path / "custom_nodes"
    write(folder / "ll_mixed.py", node_class("GoodOne") + node_class("GoodTwo") + """
class NoInputTypes:
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    def run(self):
        return (1,)

class InputTypesRaises:
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    @classmethod
    def INPUT_TYPES(cls):
        raise KeyError("needs a model list")
    def run(self):
        return (1,)

class NoFunction:
    RETURN_TYPES = ("INT",)
    FUNCTION = "missing_method"
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

NODE_CLASS_MAPPINGS = {
    "GoodOne": GoodOne,
    "NotAClass": 42,
    "NoInputTypes": NoInputTypes,
    "InputTypesRaises": InputTypesRaises,
    "NoFunction": NoFunction,
    "GoodTwo": GoodTwo,
}
""")
    with caplog.at_level(logging.WARNING):
        registry, reports = load_folder(folder)
    report = reports["ll_mixed"]
    assert report.ok, report.error
    assert report.nodes == ["GoodOne", "GoodTwo"]
    refused = dict(report.refused)
    assert set(refused) == {"NotAClass", "NoInputTypes", "InputTypesRaises", "NoFunction"}
    assert "class" in refused["NotAClass"]
    assert "INPUT_TYPES" in refused["NoInputTypes"]
    assert "INPUT_TYPES" in refused["InputTypesRaises"] and "needs a model list" in refused["InputTypesRaises"]
    assert "FUNCTION" in refused["NoFunction"] and "missing_method" in refused["NoFunction"]
    for class_type, reason in refused.items():
        assert class_type in reason
        assert class_type not in registry
        assert any(reason in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "GoodOne" in registry and "GoodTwo" in registry


def test_a_class_type_clashing_with_a_built_in_is_refused_and_the_built_in_stays(tmp_path, caplog):
    folder = tmp_path / "custom_nodes"
    write(folder / "ll_clash.py", node_class("MathInt", add=1000) + node_class("ClashFreeNode") +
          "\nNODE_CLASS_MAPPINGS = {'MathInt': MathInt, 'ClashFreeNode': ClashFreeNode}\n")
    builtin_math = builtin_nodes.NODE_CLASS_MAPPINGS["MathInt"]
    with caplog.at_level(logging.WARNING):
        registry, reports = load_folder(folder)
    report = reports["ll_clash"]
    assert report.ok
    assert report.nodes == ["ClashFreeNode"]
    assert [name for name, _ in report.refused] == ["MathInt"]
    spec = registry.get("MathInt")
    assert spec.cls is builtin_math and spec.source == "built-in"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    clash = [w for w in warnings if "MathInt" in w]
    assert clash, warnings
    # both sources named: the plugin (by name and path) and the built-in that keeps the name
    assert any("ll_clash" in w and str(folder / "ll_clash.py") in w and "built-in" in w for w in clash), clash
    prompt = {"1": {"class_type": "MathInt", "inputs": {"a": 2, "b": 3, "operation": "add"}},
              "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    assert run_workflow(registry, prompt, tmp_path).outputs["2"] == {"text": ["5"]}


def test_a_clash_between_two_plugins_keeps_the_first(tmp_path, caplog):
    folder = tmp_path / "custom_nodes"
    write(folder / "ll_first.py", good_module("SharedName"))
    write(folder / "ll_second.py", good_module("SharedName"))
    with caplog.at_level(logging.WARNING):
        registry, reports = load_folder(folder)
    assert reports["ll_first"].nodes == ["SharedName"]
    assert reports["ll_second"].nodes == [] and reports["ll_second"].refused[0][0] == "SharedName"
    assert "ll_first" in registry.get("SharedName").source
    assert any("ll_first" in r.getMessage() and "ll_second" in r.getMessage() for r in caplog.records)


# --- allow list and WEB_DIRECTORY --------------------------------------------------------------------------------------


def test_allow_loads_only_the_named_plugins(tmp_path):
    folder = tmp_path / "custom_nodes"
    write(folder / "ll_alpha.py", good_module("AlphaNode"))
    write(folder / "ll_beta" / "__init__.py", good_module("BetaNode"))
    write(folder / "ll_gamma.py", "raise RuntimeError('must not even be imported')\n")

    registry, reports = load_folder(folder, allow=["ll_beta"])
    assert list(reports) == ["ll_beta"]
    assert "BetaNode" in registry and "AlphaNode" not in registry
    assert modules_under(folder / "ll_alpha.py") == [] and modules_under(folder / "ll_gamma.py") == []

    registry, reports = load_folder(folder, allow=[])
    assert reports == {} and "AlphaNode" not in registry and "BetaNode" not in registry


def test_web_directory_is_resolved(tmp_path):
    folder = tmp_path / "custom_nodes"
    write(folder / "ll_webpkg" / "__init__.py", good_module("WebPkgNode") + 'WEB_DIRECTORY = "./js"\n')
    write(folder / "ll_webpkg" / "js" / "extension.js", "// ui\n")
    write(folder / "ll_webmod.py", good_module("WebModNode") + 'WEB_DIRECTORY = "web_assets"\n')
    write(folder / "web_assets" / "ext.js", "// ui\n")
    write(folder / "ll_webmissing.py", good_module("WebMissingNode") + 'WEB_DIRECTORY = "./nope"\n')
    write(folder / "ll_noweb.py", good_module("NoWebNode"))
    _, reports = load_folder(folder)
    assert reports["ll_webpkg"].web_directory == (folder / "ll_webpkg" / "js").resolve()
    assert reports["ll_webpkg"].web_directory.is_absolute()
    assert reports["ll_webmod"].web_directory == (folder / "web_assets").resolve()
    assert reports["ll_webmissing"].web_directory is None
    assert reports["ll_noweb"].web_directory is None
    assert all(r.ok for r in reports.values())


# --- entry points ---------------------------------------------------------------------------------------------------


def _entry_point_site(tmp_path: Path) -> Path:
    """A folder that looks like site-packages with one installed distribution declaring latentloom.nodes."""
    site = tmp_path / "site"
    dist = site / "ll_ep_dist-1.0.dist-info"
    write(dist / "METADATA", """\
        Metadata-Version: 2.1
        Name: ll-ep-dist
        Version: 1.0
        """)
    write(dist / "entry_points.txt", """\
        [latentloom.nodes]
        ll_ep_module = ll_ep_nodes
        ll_ep_mapping = ll_ep_direct:NODE_CLASS_MAPPINGS
        ll_ep_broken = ll_ep_not_installed

        [console_scripts]
        unrelated = ll_ep_nodes:main
        """)
    write(site / "ll_ep_nodes.py", good_module("EntryPointNode"))
    write(site / "ll_ep_direct.py", good_module("EntryPointMappedNode"))
    return site


def _latentloom(args: list[str], cwd: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LATENTLOOM_CUSTOM_NODES", "PYTHONPATH")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "latentloom", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_entry_point_plugins_are_listed_with_their_source(tmp_path):
    site = _entry_point_site(tmp_path)
    base = tmp_path / "base"
    base.mkdir()
    done = _latentloom(["nodes", "--json", "--base-dir", str(base)], cwd=base,
                       env_extra={"PYTHONPATH": os.pathsep.join((str(site), str(REPO)))})
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert listing["MathInt"]["source"] == "built-in"
    module_node = listing["EntryPointNode"]
    assert "entry point" in module_node["source"] and "ll_ep_nodes" in module_node["source"]
    assert "ll_ep_module" in module_node["source"]
    mapped_node = listing["EntryPointMappedNode"]
    assert "entry point" in mapped_node["source"] and "ll_ep_direct:NODE_CLASS_MAPPINGS" in mapped_node["source"]
    # ComfyUI clients group by python_module: a module-like name, never the place on disk
    assert listing["MathInt"]["python_module"] == "nodes"
    assert module_node["python_module"] == "custom_nodes.ll_ep_module"
    assert mapped_node["python_module"] == "custom_nodes.ll_ep_mapping"
    # the broken entry point is reported on stderr and does not stop the others
    assert "ll_ep_broken" in done.stderr and "ll_ep_not_installed" in done.stderr
    assert any(line.startswith("plugin ll_ep_module") and "1 node" in line for line in done.stderr.splitlines())


def test_entry_point_plugin_runs_and_is_skipped_with_disable_custom_nodes(tmp_path):
    site = _entry_point_site(tmp_path)
    base = tmp_path / "base"
    base.mkdir()
    workflow = base / "ep.json"
    workflow.write_text(json.dumps({
        "1": {"class_type": "EntryPointNode", "inputs": {"x": 41}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }))
    env = {"PYTHONPATH": os.pathsep.join((str(site), str(REPO)))}
    done = _latentloom(["run", str(workflow), "--base-dir", str(base)], cwd=base, env_extra=env)
    assert done.returncode == 0, done.stderr
    assert "node 2 (PreviewAny) text: 42" in done.stdout

    done = _latentloom(["nodes", "--json", "--disable-custom-nodes", "--base-dir", str(base)], cwd=base,
                       env_extra=env)
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert "EntryPointNode" not in listing and "MathInt" in listing

    done = _latentloom(["nodes", "--json", "--allow-custom-nodes", "ll_ep_mapping", "--base-dir", str(base)],
                       cwd=base, env_extra=env)
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert "EntryPointMappedNode" in listing and "EntryPointNode" not in listing


# --- plugins that never finish or end the process --------------------------------------------------------------------


def test_a_plugin_that_never_finishes_importing_is_left_out_and_start_up_goes_on(tmp_path):
    base = tmp_path / "base"
    write(base / "custom_nodes" / "ll_aaa_good.py", good_module("BeforeNode"))
    # stuck inside a submodule's import, so it holds that module's import lock for good
    write(base / "custom_nodes" / "ll_spins" / "__init__.py", "from . import spin\n")
    write(base / "custom_nodes" / "ll_spins" / "spin.py", "while True:\n    pass\n")
    write(base / "custom_nodes" / "ll_zzz_good" / "__init__.py", "import colorsys\nfrom .impl import *\n")
    write(base / "custom_nodes" / "ll_zzz_good" / "impl.py", good_module("AfterNode"))
    done = _latentloom(["nodes", "--json", "--plugin-import-timeout", "1", "--base-dir", str(base)], cwd=base,
                       env_extra={"PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert "BeforeNode" in listing and "AfterNode" in listing and "MathInt" in listing
    lines = done.stderr.splitlines()
    assert any(line.startswith("loading plugin ll_spins") for line in lines), done.stderr
    failed = [line for line in lines if "ll_spins" in line and "failed" in line]
    assert failed and "did not finish importing in 1 s" in failed[0], done.stderr


def test_a_plugin_that_ends_the_process_is_named_by_the_last_log_line(tmp_path):
    base = tmp_path / "base"
    write(base / "custom_nodes" / "ll_aaa_good.py", good_module("BeforeNode"))
    write(base / "custom_nodes" / "ll_quits.py", "import os\nos._exit(7)\n")
    done = _latentloom(["nodes", "--base-dir", str(base)], cwd=base, env_extra={"PYTHONPATH": str(REPO)})
    assert done.returncode == 7
    assert done.stderr.splitlines()[-1] == f"loading plugin ll_quits ({base / 'custom_nodes' / 'll_quits.py'})"
