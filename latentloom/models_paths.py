"""`latentloom models paths`: where each kind of model is searched, in order, and which folders are missing."""
from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph_engine import Folders

from .cli_options import options_from
from .exit_codes import EXIT_OK

log = logging.getLogger(__name__)

NOT_USED_NOTE = "not used by Latentloom yet"


@dataclass(frozen=True)
class SearchedFolder:
    """One root as the command shows it."""

    path: str
    origin: str
    exists: bool


def command_models_paths(args: argparse.Namespace) -> int:
    """Print each kind's roots in search order with their origin, warning about folders that do not exist: the
    default ones are made first, so the warnings are about folders the user named."""
    from .error_reports import os_error_line
    from .startup import create_folders

    options = options_from(args)
    folders = options.folders()
    try:
        create_folders(folders)
    except OSError as error:  # e.g. a read-only base folder: the listing is still worth having
        log.warning("cannot create the default folders: %s", os_error_line(error))
    used, not_used = searched_folders(folders, bool(options.models_dir))
    if args.json:
        print(json.dumps({"kinds": _as_json(used), "not_used": _as_json(not_used)}, indent=2))
        return EXIT_OK
    for kind, folders in used.items():
        print(f"{kind}:")
        _print_folders(folders)
    if not_used:
        print(f"{NOT_USED_NOTE} (named in extra_model_paths.yaml):")
        for kind, folders in not_used.items():
            print(f"  {kind}:")
            _print_folders(folders, indent="  ")
    return EXIT_OK


def searched_folders(folders: Folders, models_dir_given: bool) -> tuple[dict[str, list[SearchedFolder]],
                                                                       dict[str, list[SearchedFolder]]]:
    """The roots the loaders search for each kind of the installation `folders` (exactly as a run would), and the
    yaml folders of other kinds."""
    from model_library.kinds import KINDS

    primary_origin = "--models-dir" if models_dir_given else "default"
    used = {kind: [SearchedFolder(str(root.path), primary_origin if index == 0 else root.origin,
                                  os.path.isdir(root.path))
                   for index, root in enumerate(folders.model_roots(kind))] for kind in KINDS}
    not_used: dict[str, list[SearchedFolder]] = {}
    for root in folders.extra_model_roots:
        if root.kind not in KINDS:
            not_used.setdefault(root.kind, []).append(SearchedFolder(str(root.path), root.origin,
                                                                     os.path.isdir(root.path)))
    return used, not_used


def _print_folders(folders: list[SearchedFolder], indent: str = "") -> None:
    for number, folder in enumerate(folders, 1):
        print(f"{indent}  {number}. {folder.path}  ({folder.origin})")
        if not folder.exists:
            print(f"{indent}     warning: {folder.path} does not exist: create it, or correct the path")


def _as_json(kinds: dict[str, list[SearchedFolder]]) -> dict[str, list[dict]]:
    return {kind: [asdict(folder) for folder in folders] for kind, folders in kinds.items()}
