"""The `latentloom` command: run workflows in-process, list nodes, write the demo model."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path

from .cli_options import byte_size, options_from, seconds
from .exit_codes import EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK
from .models_cli import add_models_commands, command_models
from .serving import add_serve_arguments

log = logging.getLogger("latentloom")


def _common_options() -> argparse.ArgumentParser:
    from model_library.kinds import MODEL_KINDS

    common = argparse.ArgumentParser(add_help=False)
    folders = common.add_argument_group("folders")
    folders.add_argument("--base-dir", type=Path, default=Path.cwd(),
                         help="holds models/, input/, output/, temp/, user/ and custom_nodes/ (default: here)")
    folders.add_argument("--models-dir", type=Path, help="models folder (default: BASE/models)")
    for kind in MODEL_KINDS:
        folders.add_argument(f"--{kind.folder}-dir", dest=f"{kind.folder}_dirs", type=Path, action="append",
                             default=[], metavar="DIR",
                             help=f"another folder of {kind.plural}, searched after MODELS/{kind.folder} (where new "
                                  f"files go) and before extra_model_paths.yaml (repeatable)")
    folders.add_argument("--extra-model-paths-config", dest="extra_model_paths_configs", type=Path, action="append",
                         default=[], metavar="FILE",
                         help="a ComfyUI-format extra_model_paths.yaml naming model folders of an existing "
                              "ComfyUI or AUTOMATIC1111 install (repeatable; BASE/extra_model_paths.yaml is "
                              "read too when present)")
    folders.add_argument("--input-dir", type=Path, help="input folder (default: BASE/input)")
    folders.add_argument("--output-dir", type=Path, help="output folder (default: BASE/output)")
    plugins = common.add_argument_group("plugins")
    plugins.add_argument("--extra-custom-nodes", type=Path, action="append", default=[], metavar="DIR",
                         help="another folder of node plugins (repeatable)")
    plugins.add_argument("--disable-custom-nodes", action="store_true", help="load no plugins at all")
    plugins.add_argument("--allow-custom-nodes", metavar="NAME,...",
                         type=lambda text: [n.strip() for n in text.split(",") if n.strip()],
                         help="load only these plugins")
    plugins.add_argument("--plugin-import-timeout", type=lambda text: seconds(text, zero_allowed=True), default=60.0,
                         metavar="SECONDS",
                         help="a plugin still importing after this long is reported as failed and left out, and "
                              "start-up goes on (default: 60; 0: no limit)")
    cache = common.add_argument_group("cache")
    cache.add_argument("--cache", choices=("lru", "none"), default="lru", help="keep results between runs (lru)")
    cache.add_argument("--cache-ram", type=byte_size, metavar="BYTES", help="RAM budget of the cache (default: half the RAM)")
    cache.add_argument("--cache-device", type=byte_size, metavar="BYTES", help="device-memory budget of the cache")
    devices = common.add_argument_group("devices")
    placement = devices.add_mutually_exclusive_group()
    placement.add_argument("--cpu", dest="device_mode", action="store_const", const="cpu",
                           help="compute on the CPU even when a GPU is present (float32)")
    placement.add_argument("--gpu-only", dest="device_mode", action="store_const", const="gpu_only",
                           help="keep every model on the GPU; never move weights back to RAM")
    placement.add_argument("--lowvram", dest="device_mode", action="store_const", const="lowvram",
                           help="keep weights in RAM and move each layer to the GPU only while it runs")
    devices.add_argument("--dtype", choices=("auto", "fp32", "fp16", "bf16"), default="auto",
                         help="weight precision on the GPU (auto: fp16); the CPU always uses fp32")
    common.set_defaults(device_mode="auto")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(prog="latentloom", description="Node-graph workflows for Stable Diffusion.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", parents=[common], help="run a workflow file in this process")
    run.add_argument("workflow", type=Path,
                     help="workflow file: ComfyUI API or editor (UI) JSON, or a PNG/WEBP made by ComfyUI, Latentloom "
                          "or AUTOMATIC1111 (its settings become the equivalent workflow)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.INPUT=VALUE",
                     help="override an input; VALUE is read as JSON when it parses, else as text (repeatable)")
    run.add_argument("--json", action="store_true", help="print the outputs as JSON")
    convert = commands.add_parser("convert", parents=[common],
                                  help="write a workflow file (any form `run` reads) as API or editor (UI) JSON")
    convert.add_argument("source", type=Path, help="workflow file or image, as for `run`")
    convert.add_argument("target", type=Path, help="the JSON file to write")
    convert.add_argument("--to", choices=("api", "ui"),
                         help="api: the form that runs and that API clients send; ui: the editor's form, laid out "
                              "left to right (default: ui for an API-format source, else api)")
    listing = commands.add_parser("nodes", parents=[common], help="list the registered nodes and their sources")
    listing.add_argument("--json", action="store_true", help="print /object_info-style JSON with each node's source")
    serve = commands.add_parser("serve", parents=[common], help="start the web server and the canvas")
    add_serve_arguments(serve)
    add_models_commands(commands, common)
    commands.add_parser("demo-model", parents=[common],
                        help="write a small random-weight SD1 checkpoint into models/checkpoints (its images are "
                             "noise: it shows the pipeline works without any download), and input/example.png "
                             "when missing")
    return parser


def plugin_prints_to_stderr() -> contextlib.AbstractContextManager:
    """Plugins print banners while loading and running; stdout is kept for our results (--json)."""
    return contextlib.redirect_stdout(sys.stderr)


def _print_outputs(result, report, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.outputs, indent=2, default=repr))
        return
    for node_id in report.outputs:
        for key, values in result.outputs.get(node_id, {}).items():
            for value in values:
                shown = value if isinstance(value, str) else json.dumps(value, default=repr)
                print(f"node {node_id} ({report.nodes[node_id].class_type}) {key}: {shown}")


def command_run(args: argparse.Namespace) -> int:
    from graph_engine import WorkflowFormatError
    from graph_engine.partial_files import remove_abandoned_partials

    from .error_reports import node_failures_reported_here, report_node_failure
    from .overrides import apply_overrides
    from .progress import ProgressLine
    from .startup import build_engine, create_folders
    from .workflow_files import read_any_workflow

    with plugin_prints_to_stderr():
        engine, _ = build_engine(options_from(args))
    try:
        prompt = read_any_workflow(args.workflow, engine.registry, engine.folders)
    except WorkflowFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    problems = apply_overrides(prompt, args.overrides, engine.registry)
    if problems:
        print("\n".join(f"error: {p}" for p in problems), file=sys.stderr)
        return EXIT_INVALID
    report = engine.validate(prompt)
    if not report.ok:
        print("\n".join(f"error: {line}" for line in report.lines()), file=sys.stderr)
        return EXIT_INVALID
    create_folders(engine.folders)
    remove_abandoned_partials([engine.folders.output, engine.folders.temp])  # left by a run killed mid-save
    unsubscribe = engine.events.subscribe(ProgressLine(len(report.order)))
    try:
        with plugin_prints_to_stderr(), node_failures_reported_here():
            result = engine.execute(report, prompt)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_FAILED
    finally:
        unsubscribe()
    if result.status == "error":
        report_node_failure(result.error, result.user_facing_error, engine.folders.user, args.verbose)
        return EXIT_FAILED
    if result.status == "interrupted":
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    _print_outputs(result, report, args.json)
    log.info("ran %d node(s), %d cached", len(result.executed), len(result.cached))
    return EXIT_OK


def command_convert(args: argparse.Namespace) -> int:
    from graph_engine import WorkflowFormatError
    from graph_engine.ui_layout import api_to_ui

    from .startup import build_registry
    from .workflow_files import is_api_format_file, read_any_workflow

    if args.target.resolve() == args.source.resolve():
        print(f"error: {args.target} is the source file; write the result to another file", file=sys.stderr)
        return EXIT_INVALID
    options = options_from(args)
    folders = options.folders()
    with plugin_prints_to_stderr():
        registry, _ = build_registry(options, folders)
    try:
        prompt = read_any_workflow(args.source, registry, folders)
        to = args.to or ("ui" if is_api_format_file(args.source) else "api")
        converted = api_to_ui(prompt, registry) if to == "ui" else prompt
    except WorkflowFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    args.target.write_text(json.dumps(converted, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{args.target}: {'editor (UI)' if to == 'ui' else 'API'} format, {len(prompt)} node(s)")
    return EXIT_OK


def command_nodes(args: argparse.Namespace) -> int:
    from .startup import build_registry

    options = options_from(args)
    with plugin_prints_to_stderr():
        registry, _ = build_registry(options, options.folders())
    specs = sorted(registry, key=lambda s: (s.category, s.class_type))
    if args.json:
        print(json.dumps({s.class_type: {**s.object_info(), "source": s.source} for s in specs}, indent=2, default=repr))
        return EXIT_OK
    width = max((len(s.class_type) for s in specs), default=0)
    category_width = max((len(s.category) for s in specs), default=0)  # categories may hold spaces
    for spec in specs:
        print(f"{spec.class_type:<{width}}  {spec.category:<{category_width}}  {spec.source}")
    return EXIT_OK


def command_demo_model(args: argparse.Namespace) -> int:
    from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME, write_demo_checkpoint

    from .example_image import PURPOSE, ensure_example_image

    folders = options_from(args).folders()
    path = folders.models / "checkpoints" / DEMO_CHECKPOINT_NAME
    existed = path.exists()
    write_demo_checkpoint(path)
    print(f"{path} {'already there' if existed else 'written'}: a demo with random weights, its images are noise. "
          f"Put real checkpoints in {path.parent}.")
    if (picture := ensure_example_image(folders.input)) is not None:
        print(f"{picture} written: {PURPOSE}.")
    return EXIT_OK


def command_serve(args: argparse.Namespace) -> int:
    from .serving import command_serve as serve

    with plugin_prints_to_stderr():
        return serve(args, options_from(args))


COMMANDS = {"run": command_run, "convert": command_convert, "nodes": command_nodes, "serve": command_serve, "models": command_models,
            "demo-model": command_demo_model}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        return _failed(args, exc)


def entry() -> None:
    """The installed `latentloom` command and `python -m latentloom`: `main`, then an exit without the interpreter's
    teardown (latentloom/process_exit.py)."""
    from .process_exit import exit_without_teardown

    exit_without_teardown(main() or EXIT_OK)


def _failed(args: argparse.Namespace, exc: Exception) -> int:
    """What escaped a command, in one line: a closed stdout ends quietly, as Unix tools do (`latentloom nodes |
    head`); errors meant for the user show their message; anything else names the log file with its traceback."""
    from graph_engine import Folders, UserFacingError
    from model_library.extra_model_paths import ExtraModelPathsError  # only now: importing nodes costs time

    from .error_reports import os_error_line, report_unexpected, silence_stdout, stdout_is_closed

    if isinstance(exc, BrokenPipeError) and stdout_is_closed():
        silence_stdout()
        return EXIT_BROKEN_PIPE
    if isinstance(exc, ExtraModelPathsError):  # a malformed extra_model_paths.yaml: the user fixes the file
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if isinstance(exc, UserFacingError):
        print(f"error: {exc}", file=sys.stderr)
    elif isinstance(exc, OSError):  # the machine's doing (a full disk, a folder not writable), not a bug
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
    else:
        command = " ".join(filter(None, (args.command, getattr(args, "models_command", None))))
        # the user folder alone: the whole installation (extra_model_paths.yaml read again) may be what failed
        report_unexpected(command, exc, Folders.under(args.base_dir).user, args.verbose)
    return EXIT_FAILED
