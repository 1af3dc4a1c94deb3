"""The `latentloom models ...` commands: one parser for the `models` command and its subcommands."""
from __future__ import annotations

import argparse

from .models_paths import command_models_paths

MODELS_COMMANDS = {"paths": command_models_paths}


def add_models_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `models` and its subcommands; each takes the options every command shares (`common`)."""
    models = commands.add_parser("models", help="model files: where each kind is searched")
    subcommands = models.add_subparsers(dest="models_command", required=True)
    paths = subcommands.add_parser("paths", parents=[common],
                                   help="print the folders searched for each kind of model, in order, and why")
    paths.add_argument("--json", action="store_true", help="print the folders as JSON")


def command_models(args: argparse.Namespace) -> int:
    return MODELS_COMMANDS[args.models_command](args)
