"""`latentloom models list` and `models verify`: what each installed file is, and which files are broken."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .cli_options import options_from
from .exit_codes import EXIT_FAILED, EXIT_OK


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    from model_library.kinds import KIND_FOLDERS

    parser.add_argument("--kind", choices=(*KIND_FOLDERS, "unknown"), help="only files detected as this kind")
    parser.add_argument("--json", action="store_true", help="print one JSON object per file, in a list")
    parser.add_argument("--verbose", dest="details", action="store_true",
                        help="also show the full sha256 and what the trainer wrote (base model, network dim and "
                             "alpha, stated trigger words, most frequent training tags)")


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Check model files: exit status 1 when any is broken (truncated, a web page, a dangling "
                          "link ...). A valid file of a family Latentloom cannot run (FLUX.1, SD3 ...) is named as "
                          "such but is not broken, so it alone does not fail the check.")
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="files to check (default: every installed model)")


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def command_models_list(args: argparse.Namespace) -> int:
    """A table (or JSON) of every installed model; problems and misplaced files are flagged under it."""
    from model_library.listing import installed_models


    models = [model for model in installed_models(options_from(args).folders())
              if args.kind in (None, model.file.kind)]
    if args.json:
        print(json.dumps([model.as_json() | {"path": str(model.file.path)} for model in models], indent=2))
        return EXIT_OK
    base_width = max([6, *(len(model.file.architecture) for model in models)])
    print(f"{'KIND':<11} {'BASE':<{base_width}} {'PREC':<9} {'SIZE':>9}  {'HASH':<10}  NAME")
    for model in models:
        file = model.file
        model_hash = model.hashes.model_hash if model.hashes else "-"
        print(f"{file.kind:<11} {file.architecture or '?':<{base_width}} {file.precision or '?':<9} "
              f"{human_size(file.size):>9}  {model_hash:<10}  {model.folder}/{model.name}")
        if args.details:
            _print_details(model)
    flagged = [(model, model.file.problem or model.misplaced or f"valid file; {model.file.unsupported}")
               for model in models if model.file.problem or model.misplaced or model.file.unsupported]
    for model, why in flagged:
        print(f"! {model.folder}/{model.name}: {why}")
    if not models:
        print("(no model files: put them in the folders that `latentloom models paths` lists)")
    return EXIT_OK


def _print_details(model) -> None:
    indent = " " * 4
    if model.hashes:
        print(f"{indent}sha256 {model.hashes.sha256}" +
              (f"  (LoRA hash {model.hashes.lora_hash})" if model.file.kind == "lora" else ""))
    print(f"{indent}path {model.file.path}{_link_target(model.file.path)}")
    training = model.file.training
    if training is None:
        return
    facts = [("base model", training.base_model), ("network", training.network_module),
             ("dim", training.network_dim), ("alpha", training.network_alpha)]
    print(indent + ", ".join(f"{name} {value}" for name, value in facts if value is not None))
    for line in prompt_word_lines(training):
        print(indent + line)


def prompt_word_lines(training) -> list[str]:
    """What to put in the prompt for a LoRA: the trigger words its file states, and apart from them the tags most
    frequent in its training captions (a guess at words it responds to, not a promise)."""
    lines = [f"trigger words: {', '.join(training.trigger_words)}"] if training.trigger_words else []
    if training.top_tags:
        lines.append(f"most frequent training tags: {', '.join(training.top_tags)}")
    return lines


def _link_target(path: Path) -> str:
    """' -> target' for a symbolic link (where a linked model really is, or where a dangling link points)."""
    return f" -> {os.readlink(path)}" if path.is_symlink() else ""


def command_models_verify(args: argparse.Namespace) -> int:
    """Check the given files (or every installed one); exit 1 when any is unusable, naming the likely cause."""
    from model_library.identify import identify_model
    from model_library.listing import installed_models


    if args.paths:
        missing = [path for path in args.paths if not path.exists() and not path.is_symlink()]
        if missing:
            for path in missing:
                print(f"BAD  {path}: no such file")
            return EXIT_FAILED
        files = [identify_model(path) for path in args.paths]
    else:
        files = [model.file for model in installed_models(options_from(args).folders(), compute_hashes=False)]
    bad = 0
    for file in files:
        if file.problem:
            bad += 1
            print(f"BAD  {file.path}: {file.problem}{_link_target(file.path)}")
        else:
            note = f": valid file; {file.unsupported}" if file.unsupported else ""
            print(f"ok   {file.path} ({file.description}{', ' + file.precision if file.precision else ''}){note}")
    cannot_run = sum(1 for file in files if file.unsupported)
    print(f"{len(files) - bad} ok{f' ({cannot_run} that Latentloom cannot run)' if cannot_run else ''}, "
          f"{bad} with problems")
    return EXIT_FAILED if bad else EXIT_OK
