"""The `latentloom` command, run as a real subprocess in a temporary base folder."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from latentloom.cli_options import byte_size
from tests.fixtures.plugin_sources import plugin_module

REPO = Path(__file__).resolve().parents[2]
UTILITY = REPO / "workflows" / "utility_example.json"
EXPECTED_LINES = [
    "node 4 (PreviewAny) text: 42",
    "node 7 (PreviewAny) text: Hello, Latentloom",
    "node 8 (PreviewAny) text: 17",
]
OBJECT_INFO_FIELDS = {"input", "input_order", "output", "output_is_list", "output_name", "name", "display_name",
                      "description", "category", "output_node"}


# --- helpers -----------------------------------------------------------------------------------------------------


@pytest.fixture
def base(tmp_path) -> Path:
    folder = tmp_path / "base"
    folder.mkdir()
    return folder


def latentloom(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "LATENTLOOM_CUSTOM_NODES"}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "latentloom", *map(str, args)], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=60)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def utility_prompt() -> dict:
    return json.loads(UTILITY.read_text())


def listed_nodes(stdout: str) -> dict[str, str]:
    """`latentloom nodes` text output -> {class_type: source}."""
    listing = {}
    for line in stdout.splitlines():
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=2)  # columns are two spaces apart or more
        if len(parts) == 3:
            listing[parts[0]] = parts[2]
    return listing


# --- run --------------------------------------------------------------------------------------------------------------


def test_run_prints_the_outputs(base):
    done = latentloom("run", UTILITY, "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for expected in EXPECTED_LINES:
        assert expected in lines, done.stdout
    assert error_lines(done.stderr) == []


def test_run_json_output_parses(base):
    done = latentloom("run", UTILITY, "--json", "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"4": {"text": ["42"]}, "7": {"text": ["Hello, Latentloom"]},
                                       "8": {"text": ["17"]}}


def test_set_overrides_an_input(base):
    done = latentloom("run", UTILITY, "--set", "1.value=10", "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert "node 4 (PreviewAny) text: 70" in done.stdout.splitlines()
    assert "node 4 (PreviewAny) text: 42" not in done.stdout


def test_set_takes_text_when_the_value_is_not_json(base):
    done = latentloom("run", UTILITY, "--set", "5.string_b=World", "--set", '5.delimiter=" - "', "--base-dir", base,
                      cwd=base)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "node 7 (PreviewAny) text: Hello - World" in lines
    assert "node 8 (PreviewAny) text: 13" in lines


@pytest.mark.parametrize("override, named", [("99.value=1", "99"), ("1.value", "NODE.INPUT=VALUE"),
                                             ("value=3", "NODE.INPUT=VALUE")])
def test_a_bad_set_exits_2_naming_the_problem(base, override, named):
    done = latentloom("run", UTILITY, "--set", override, "--base-dir", base, cwd=base)
    assert done.returncode == 2
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and named in lines[0], done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr


def test_a_set_for_a_node_not_in_the_workflow_names_its_node_ids(base):
    done = latentloom("run", UTILITY, "--set", "99.value=1", "--base-dir", base, cwd=base)
    assert done.returncode == 2
    [line] = error_lines(done.stderr)
    assert "no node '99'" in line and "1, 2, 3, 4, 5, 6, 7, 8" in line


def test_a_set_of_an_input_the_node_does_not_have_exits_2_naming_its_inputs(base):
    """It used to be written into the workflow and ignored by the run, which exited 0 with the old value."""
    done = latentloom("run", UTILITY, "--set", "3.operaton=add", "--set", "1.value=10", "--base-dir", base, cwd=base)
    assert done.returncode == 2, done.stdout
    [line] = error_lines(done.stderr)
    assert "node 3 (MathInt) has no input 'operaton'" in line and "did you mean 'operation'?" in line
    assert "Its inputs: a, b, operation." in line
    assert done.stdout == ""


def test_a_set_of_an_input_the_node_declares_but_the_workflow_leaves_out_is_applied(base):
    prompt = utility_prompt()
    del prompt["5"]["inputs"]["delimiter"]
    workflow = base / "no_delimiter.json"
    workflow.write_text(json.dumps(prompt))
    done = latentloom("run", workflow, "--set", '5.delimiter=" - "', "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert "node 7 (PreviewAny) text: Hello - Latentloom" in done.stdout.splitlines()


def test_an_invalid_workflow_exits_2_with_one_line_per_error(base):
    prompt = utility_prompt()
    prompt["1"]["inputs"]["value"] = "six"
    prompt["3"]["inputs"]["operation"] = "frobnicate"
    prompt["6"]["inputs"]["string"] = ["99", 0]
    workflow = base / "invalid.json"
    workflow.write_text(json.dumps(prompt))
    done = latentloom("run", workflow, "--base-dir", base, cwd=base)
    assert done.returncode == 2
    lines = error_lines(done.stderr)
    assert len(lines) == 3, done.stderr
    expected = [("node 1", "PrimitiveInt", "'value'"), ("node 3", "MathInt", "'operation'"),
                ("node 6", "StringLength", "'string'")]
    for node, class_type, input_name in expected:
        assert any(node + " " in line and class_type in line and input_name in line for line in lines), lines
    assert "frobnicate" in done.stderr and "99" in done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr


def test_a_single_validation_error_gives_a_single_line(base):
    prompt = utility_prompt()
    del prompt["3"]["inputs"]["b"]
    workflow = base / "missing_input.json"
    workflow.write_text(json.dumps(prompt))
    done = latentloom("run", workflow, "--base-dir", base, cwd=base)
    assert done.returncode == 2
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and "node 3" in lines[0] and "'b'" in lines[0], done.stderr


def test_a_workflow_with_an_unknown_node_type_exits_2(base):
    prompt = utility_prompt()
    prompt["5"]["class_type"] = "NoSuchNodeAnywhere"
    workflow = base / "unknown.json"
    workflow.write_text(json.dumps(prompt))
    done = latentloom("run", workflow, "--base-dir", base, cwd=base)
    assert done.returncode == 2
    assert any("NoSuchNodeAnywhere" in line and "5" in line for line in error_lines(done.stderr)), done.stderr


def test_a_file_that_is_not_json_exits_2_naming_the_file(base):
    workflow = write(base / "notes.json", "{ this is not json\n")
    done = latentloom("run", workflow, "--base-dir", base, cwd=base)
    assert done.returncode == 2
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and str(workflow) in lines[0] and "JSON" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_file_exits_2_naming_the_file(base):
    workflow = base / "absent.json"
    done = latentloom("run", workflow, "--base-dir", base, cwd=base)
    assert done.returncode == 2
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and str(workflow) in lines[0] and "no such file" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def editor_workflow(source_type: str = "PrimitiveInt") -> dict:
    return {
        "last_node_id": 2, "last_link_id": 1,
        "nodes": [
            {"id": 1, "type": source_type, "pos": [0, 0], "size": [200, 60], "mode": 0, "inputs": [],
             "outputs": [{"name": "INT", "type": "INT", "links": [1], "slot_index": 0}], "widgets_values": [6],
             "properties": {}},
            {"id": 2, "type": "PreviewAny", "pos": [300, 0], "size": [200, 60], "mode": 0,
             "inputs": [{"name": "source", "type": "*", "link": 1}], "outputs": [], "widgets_values": [],
             "properties": {}},
        ],
        "links": [[1, 1, 0, 2, 0, "INT"]], "groups": [], "extra": {}, "version": 0.4,
    }


def test_an_editor_format_file_runs(base):
    workflow = base / "editor.json"
    workflow.write_text(json.dumps(editor_workflow()))
    done = latentloom("run", workflow, "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert "node 2 (PreviewAny) text: 6" in done.stdout


def test_an_editor_file_with_a_node_no_plugin_provides_exits_2_naming_it(base):
    workflow = base / "editor.json"
    workflow.write_text(json.dumps(editor_workflow("FancySeedNode")))
    done = latentloom("run", workflow, "--base-dir", base, cwd=base)
    assert done.returncode == 2
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and str(workflow) in lines[0], done.stderr
    assert "FancySeedNode" in lines[0] and "plugin" in lines[0]
    assert "Traceback" not in done.stderr


def test_a_node_failing_at_run_time_exits_1_naming_the_node(base):
    done = latentloom("run", UTILITY, "--set", "2.value=0", "--set", "3.operation=divide", "--base-dir", base,
                      cwd=base)
    assert done.returncode == 1
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert "node 3 (MathInt)" in lines[0] and "ZeroDivisionError" in lines[0] and "divide by zero" in lines[0]


def test_a_plugin_node_failing_at_run_time_exits_1_naming_the_node(tmp_path, base):
    plugins = tmp_path / "plugins"
    write(plugins / "ll_cli_boom.py", """
        class Boom:
            CATEGORY = "tests"
            RETURN_TYPES = ("STRING",)
            FUNCTION = "run"

            @classmethod
            def INPUT_TYPES(cls):
                return {"required": {"text": ("STRING", {})}}

            def run(self, text):
                raise RuntimeError("the boom node refuses " + text)

        NODE_CLASS_MAPPINGS = {"Boom": Boom}
        """)
    workflow = base / "boom.json"
    workflow.write_text(json.dumps({
        "1": {"class_type": "Boom", "inputs": {"text": "politely"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }))
    done = latentloom("run", workflow, "--extra-custom-nodes", plugins, "--base-dir", base, cwd=base)
    assert done.returncode == 1
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert "node 1 (Boom)" in lines[0] and "RuntimeError" in lines[0] and "the boom node refuses politely" in lines[0]
    assert "PreviewAny" not in done.stdout


# --- nodes ------------------------------------------------------------------------------------------------------------


def test_nodes_lists_built_ins_with_their_source(base):
    done = latentloom("nodes", "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    listing = listed_nodes(done.stdout)
    for class_type in ("PrimitiveInt", "MathInt", "MathFloat", "StringConcatenate", "StringLength", "PreviewAny"):
        assert listing.get(class_type) == "built-in", done.stdout
    assert set(listing.values()) == {"built-in"}


def test_nodes_json_has_object_info_fields_and_the_source(base):
    done = latentloom("nodes", "--json", "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert "MathInt" in listing and "PreviewAny" in listing
    for class_type, info in listing.items():
        assert OBJECT_INFO_FIELDS <= set(info), (class_type, set(info))
        assert info["source"] == "built-in"
        assert info["name"] == class_type
    math = listing["MathInt"]
    assert math["display_name"] == "Math (Int)"
    assert math["category"] == "utilities/math"
    assert list(math["input"]["required"]) == ["a", "b", "operation"]
    assert math["input_order"] == {"required": ["a", "b", "operation"]}
    assert "multiply" in math["input"]["required"]["operation"][0]
    assert math["output"] == ["INT"] and math["output_is_list"] == [False]
    assert listing["PreviewAny"]["output_node"] is True


# --- plugins through the command line ---------------------------------------------------------------------------------


@pytest.fixture
def two_plugins(tmp_path) -> Path:
    folder = tmp_path / "plugins"
    write(folder / "ll_cli_alpha.py", plugin_module("AlphaOne", "AlphaTwo"))
    write(folder / "ll_cli_beta" / "__init__.py", plugin_module("BetaOne"))
    return folder


def test_start_up_prints_one_line_per_plugin_with_node_count_and_time(base, two_plugins):
    done = latentloom("nodes", "--json", "--extra-custom-nodes", two_plugins, "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)  # the start-up lines go to stderr, never into the JSON
    assert "AlphaOne" in listing and "BetaOne" in listing
    assert "ll_cli_alpha" in listing["AlphaOne"]["source"]
    lines = done.stderr.splitlines()
    for name in ("ll_cli_alpha", "ll_cli_beta"):  # announced before its import (a crash there names it), then told
        about = [line for line in lines if name in line]
        assert len(about) == 2 and about[0].startswith(f"loading plugin {name} ("), done.stderr
    alpha = [line for line in lines if line.startswith("plugin ll_cli_alpha")]
    beta = [line for line in lines if line.startswith("plugin ll_cli_beta")]
    assert len(alpha) == 1 and len(beta) == 1, done.stderr
    assert re.search(r"\b2 node\(?s?\)?\b.*\d+(\.\d+)? ?ms", alpha[0]), alpha
    assert re.search(r"\b1 node\(?s?\)?\b.*\d+(\.\d+)? ?ms", beta[0]), beta


def test_plugins_in_base_custom_nodes_load_and_disable_custom_nodes_skips_them(base):
    write(base / "custom_nodes" / "ll_cli_local.py", plugin_module("LocalNode"))
    done = latentloom("nodes", "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert "LocalNode" in listed_nodes(done.stdout)
    assert "ll_cli_local" in listed_nodes(done.stdout)["LocalNode"]

    done = latentloom("nodes", "--disable-custom-nodes", "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    listing = listed_nodes(done.stdout)
    assert "LocalNode" not in listing and "MathInt" in listing
    assert "ll_cli_local" not in done.stderr


def test_disable_custom_nodes_also_skips_extra_folders_and_the_environment(tmp_path, base, two_plugins):
    done = latentloom("nodes", "--disable-custom-nodes", "--extra-custom-nodes", two_plugins, "--base-dir", base,
                      cwd=base, env={"LATENTLOOM_CUSTOM_NODES": str(two_plugins)})
    assert done.returncode == 0, done.stderr
    listing = listed_nodes(done.stdout)
    assert not {"AlphaOne", "BetaOne"} & set(listing)


def test_allow_custom_nodes_loads_only_the_named_plugin(base, two_plugins):
    done = latentloom("nodes", "--allow-custom-nodes", "ll_cli_beta", "--extra-custom-nodes", two_plugins,
                      "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    listing = listed_nodes(done.stdout)
    assert "BetaOne" in listing and "AlphaOne" not in listing and "AlphaTwo" not in listing
    assert not any(line.startswith("plugin ll_cli_alpha:") for line in done.stderr.splitlines())


def test_allow_custom_nodes_takes_a_comma_list(base, two_plugins):
    done = latentloom("nodes", "--allow-custom-nodes", "ll_cli_beta,ll_cli_alpha", "--extra-custom-nodes",
                      two_plugins, "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert {"AlphaOne", "AlphaTwo", "BetaOne"} <= set(listed_nodes(done.stdout))


def test_the_custom_nodes_environment_variable_is_a_path_list(tmp_path, base):
    first, second = tmp_path / "env_one", tmp_path / "env_two"
    write(first / "ll_cli_env_one.py", plugin_module("EnvOneNode"))
    write(second / "ll_cli_env_two" / "__init__.py", plugin_module("EnvTwoNode"))
    done = latentloom("nodes", "--base-dir", base, cwd=base,
                      env={"LATENTLOOM_CUSTOM_NODES": os.pathsep.join([str(first), str(second)])})
    assert done.returncode == 0, done.stderr
    listing = listed_nodes(done.stdout)
    assert "ll_cli_env_one" in listing.get("EnvOneNode", "")
    assert "ll_cli_env_two" in listing.get("EnvTwoNode", "")


def test_a_broken_plugin_does_not_stop_a_run_that_does_not_use_it(tmp_path, base):
    plugins = tmp_path / "plugins"
    write(plugins / "ll_cli_broken.py", "raise ImportError('needs ll_cli_missing_library')\n")
    write(plugins / "ll_cli_fine.py", plugin_module("FineNode"))
    done = latentloom("run", UTILITY, "--extra-custom-nodes", plugins, "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    for expected in EXPECTED_LINES:
        assert expected in done.stdout.splitlines()
    broken = [line for line in done.stderr.splitlines() if "ll_cli_broken" in line]
    assert broken and any("needs ll_cli_missing_library" in line for line in broken), done.stderr
    assert any(line.startswith("plugin ll_cli_fine") for line in done.stderr.splitlines()), done.stderr


def test_a_broken_plugin_does_not_stop_nodes_either(tmp_path, base):
    plugins = tmp_path / "plugins"
    write(plugins / "ll_cli_exits.py", "import sys\nsys.exit(3)\n")
    done = latentloom("nodes", "--json", "--extra-custom-nodes", plugins, "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert "MathInt" in json.loads(done.stdout)
    assert "ll_cli_exits" in done.stderr


def test_a_missing_plugin_folder_is_named_and_skipped(tmp_path, base):
    missing = tmp_path / "no_such_plugins"
    done = latentloom("run", UTILITY, "--extra-custom-nodes", missing, "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert EXPECTED_LINES[0] in done.stdout.splitlines()
    assert str(missing) in done.stderr


def test_the_shipped_example_plugin_workflow_runs(base):
    done = latentloom("run", REPO / "workflows" / "example_plugin.json", "--json", "--extra-custom-nodes",
                      REPO / "custom_nodes", "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"3": {"text": ["6", "2", "5", "5"]},
                                       "6": {"text": ["graphs+of+typed+nodes | graphs+of+typed+nodes"]}}
    assert any(line.startswith("plugin example_nodes") and "3 node" in line for line in done.stderr.splitlines())


@pytest.fixture
def chatty_plugins(tmp_path) -> Path:
    """A plugin that prints a banner at import and prints while it runs, as many ComfyUI plugins do."""
    folder = tmp_path / "chatty"
    write(folder / "ll_cli_chatty.py", """
        print("### Loading: Chatty Pack v1.0")

        class Chatty:
            CATEGORY = "tests"
            RETURN_TYPES = ("INT",)
            FUNCTION = "run"

            @classmethod
            def INPUT_TYPES(cls):
                return {"required": {"x": ("INT", {})}}

            def run(self, x):
                print("chatty node at work")
                return (x * 2,)

        NODE_CLASS_MAPPINGS = {"Chatty": Chatty}
        """)
    return folder


def test_nodes_json_stays_parseable_when_a_plugin_prints(base, chatty_plugins):
    done = latentloom("nodes", "--json", "--extra-custom-nodes", chatty_plugins, "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert "Chatty" in json.loads(done.stdout)
    assert "### Loading: Chatty Pack v1.0" in done.stderr  # the banner is shown, on stderr


def test_run_json_stays_parseable_when_a_plugin_prints(base, chatty_plugins):
    workflow = base / "chatty.json"
    workflow.write_text(json.dumps({"1": {"class_type": "Chatty", "inputs": {"x": 21}},
                                    "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}))
    done = latentloom("run", workflow, "--json", "--extra-custom-nodes", chatty_plugins, "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"2": {"text": ["42"]}}
    assert "chatty node at work" in done.stderr


# --- options every command takes ----------------------------------------------------------------------------------------


def test_folder_options_are_accepted_by_run(tmp_path, base):
    models, inputs, outputs = tmp_path / "m", tmp_path / "i", tmp_path / "o"
    done = latentloom("run", UTILITY, "--base-dir", base, "--models-dir", models, "--input-dir", inputs,
                      "--output-dir", outputs, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert EXPECTED_LINES[0] in done.stdout
    # a run makes the folders it may write to: the ones given, not the defaults under the base folder
    assert outputs.is_dir() and inputs.is_dir() and models.is_dir()
    assert not (base / "output").exists() and not (base / "models").exists()


def test_folder_options_are_accepted_by_nodes(tmp_path, base):
    done = latentloom("nodes", "--base-dir", base, "--models-dir", tmp_path / "m", "--input-dir", tmp_path / "i",
                      "--output-dir", tmp_path / "o", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "MathInt" in listed_nodes(done.stdout)


def test_base_dir_defaults_to_the_working_folder(base):
    write(base / "custom_nodes" / "ll_cli_cwd.py", plugin_module("CwdNode"))
    done = latentloom("nodes", cwd=base)
    assert done.returncode == 0, done.stderr
    assert "CwdNode" in listed_nodes(done.stdout)


@pytest.mark.parametrize("options", [["--cache", "none"], ["--cache", "lru"], ["--cache-ram", "512M"],
                                     ["--cache-ram", "1.5GiB", "--cache-device", "2G"], ["--cache-ram", "1000000"]])
@pytest.mark.parametrize("command", ["run", "nodes"])
def test_cache_options_are_accepted(base, options, command):
    args = ["run", UTILITY] if command == "run" else ["nodes"]
    done = latentloom(*args, *options, "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    if command == "run":
        assert EXPECTED_LINES[0] in done.stdout.splitlines()


@pytest.mark.parametrize("option, value", [("--cache-ram", "lots"), ("--cache-ram", "-5M"), ("--cache-ram", "12X"),
                                           ("--cache-ram", "M"), ("--cache-device", "big"), ("--cache", "sometimes")])
def test_bad_cache_options_are_rejected(base, option, value):
    done = latentloom("run", UTILITY, f"{option}={value}", "--base-dir", base, cwd=base)
    assert done.returncode == 2
    assert option in done.stderr and value in done.stderr, done.stderr
    assert done.stdout == ""


def test_byte_size_reads_common_spellings():
    assert byte_size("512M") == 512 * 1024**2
    assert byte_size("512MiB") == 512 * 1024**2
    assert byte_size("8G") == 8 * 1024**3
    assert byte_size("8gb") == 8 * 1024**3
    assert byte_size("1.5K") == 1536
    assert byte_size("1000000") == 1000000
    assert byte_size("2T") == 2 * 1024**4


def test_the_command_ends_after_its_threads_and_exit_callbacks_with_all_its_output(base):
    """The process skips the interpreter's teardown (latentloom/process_exit.py), not what Python's exit waits for."""
    write(base / "custom_nodes" / "ll_cli_exit.py", f"""
        import atexit
        import threading
        import time
        from pathlib import Path

        def late_write():
            time.sleep(0.3)  # still running when the command's work is done
            Path({str(base / "thread_done")!r}).write_text("yes")

        threading.Thread(target=late_write, daemon=False).start()  # plugins load on a daemon thread
        atexit.register(lambda: Path({str(base / "atexit_done")!r}).write_text("yes"))
        NODE_CLASS_MAPPINGS = {{}}
        """)
    done = latentloom("nodes", "--json", "--base-dir", base, cwd=base)
    assert done.returncode == 0, done.stderr
    assert "MathInt" in json.loads(done.stdout)  # all of a large output, though stdout is a buffered pipe
    assert (base / "thread_done").read_text() == "yes"
    assert (base / "atexit_done").read_text() == "yes"
