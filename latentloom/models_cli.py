"""The `latentloom models ...` commands: one parser for the `models` command and its subcommands."""
from __future__ import annotations

import argparse

from .models_install import add_install_arguments, command_models_install
from .models_listing import add_list_arguments, add_verify_arguments, command_models_list, command_models_verify
from .models_paths import command_models_paths

MODELS_COMMANDS = {"paths": command_models_paths, "list": command_models_list, "install": command_models_install,
                   "verify": command_models_verify}


def add_models_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `models` and its subcommands; each takes the options every command shares (`common`)."""
    models = commands.add_parser("models", help="model files: where they go, what they are, installing them")
    subcommands = models.add_subparsers(dest="models_command", required=True)
    paths = subcommands.add_parser("paths", parents=[common],
                                   help="print the folders searched for each kind of model, in order, and why")
    paths.add_argument("--json", action="store_true", help="print the folders as JSON")
    # `models list --verbose` shows details, as the issue names it; -v alone still turns on debug logging
    add_list_arguments(subcommands.add_parser(
        "list", parents=[common], conflict_handler="resolve",
        help="every model file: kind, base, precision, size, hashes (headers only)"))
    add_install_arguments(subcommands.add_parser(
        "install", parents=[common], help="copy, link or download a model into the folder its content belongs in"))
    add_verify_arguments(subcommands.add_parser(
        "verify", parents=[common], help="check model files and name broken ones with the likely cause"))


def command_models(args: argparse.Namespace) -> int:
    return MODELS_COMMANDS[args.models_command](args)
