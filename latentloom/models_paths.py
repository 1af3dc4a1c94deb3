"""`latentloom models paths`: where each kind of model is searched, in order, and which folders are missing."""
from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import asdict, dataclass

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
    try:
        create_folders(options.folders())
    except OSError as error:  # e.g. a read-only base folder: the listing is still worth having
        log.warning("cannot create the default folders: %s", os_error_line(error))
    used, not_used = searched_folders(options)
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


def searched_folders(options) -> tuple[dict[str, list[SearchedFolder]], dict[str, list[SearchedFolder]]]:
    """The roots the loaders search for each kind (exactly as a run would), and the yaml folders of other kinds."""
    from nodes.runtime.model_folders import KINDS, model_search_roots, set_models_folder

    extra = options.extra_model_roots()
    set_models_folder(options.folders().models, extra)
    primary_origin = "--models-dir" if options.models_dir else "default"
    used = {kind: [SearchedFolder(str(root.path), primary_origin if index == 0 else root.origin,
                                  os.path.isdir(root.path))
                   for index, root in enumerate(model_search_roots(kind))] for kind in KINDS}
    not_used: dict[str, list[SearchedFolder]] = {}
    for root in extra:
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
