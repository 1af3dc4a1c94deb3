"""ComfyUI's `folder_paths` for plugins: model, input, output and temp folders answered from Latentloom's.

The folders are the installation's whose engine is calling plugin code (`current_folders()`); outside any engine
call (a plugin's own routes or threads) they are those of the engine that loaded the plugins, the one process-wide
installation left (`use_plugin_folders`, called by `install_comfy_modules`; the same value, not a copy).
Model kinds Latentloom loads (checkpoints, vae, loras, embeddings) are listed and found by its model library, with
every root it searches; any other kind a plugin asks for ("upscale_models", its own) is `<models>/<kind>` and the
extra_model_paths.yaml folders of that name. Folders plugins add (`add_model_folder_path`, or an entry set in
`folder_names_and_paths`) are searched after those.
Model names never go up from their folder ('..', absolute); symbolic links inside model folders are followed, as
Latentloom's own listing follows them. Input, output and temp names may not leave their folder at all.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from graph_engine import Folders, current_folders
from graph_engine.folders import join_inside, resolve_inside
from nodes.images.naming import save_target
from model_library.folders import find_model, list_models, scan_model_folder
from model_library.kinds import KINDS, MODEL_SUFFIXES
from nodes.comfy_compat.not_offered import attribute_not_offered

log = logging.getLogger(__name__)

supported_pt_extensions: set[str] = set(MODEL_SUFFIXES)

# folder name -> (folders, file extensions) that plugins added or assigned, searched after Latentloom's own roots
folder_names_and_paths: dict[str, tuple[list[str], set[str]]] = {}
_ANNOTATIONS = {" [input]": "input", " [output]": "output", " [temp]": "temp"}
_CONSTANTS = {"models_dir": "models", "base_path": "base", "output_directory": "output",
              "input_directory": "input", "temp_directory": "temp", "user_directory": "user"}

_plugin_folders: Folders | None = None  # the folders of the engine that loaded the plugins
_not_offered = attribute_not_offered(__name__)


def use_plugin_folders(folders: Folders) -> None:
    """The installation plugins see outside an engine call: that of the engine loading them."""
    global _plugin_folders
    _plugin_folders = folders


def _folders() -> Folders:
    return current_folders(default=_plugin_folders)


def __getattr__(name: str) -> Any:
    """ComfyUI's module-level folder constants, read when asked so they follow the installation's folders."""
    if name in _CONSTANTS:
        return str(getattr(_folders(), _CONSTANTS[name]))
    return _not_offered(name)


def get_input_directory() -> str:
    return str(_folders().input)


def get_output_directory() -> str:
    return str(_folders().output)


def get_temp_directory() -> str:
    return str(_folders().temp)


def get_user_directory() -> str:
    return str(_folders().user)


def get_directory_by_type(type_name: str) -> str | None:
    """The folder of "input", "output" or "temp"; None for any other name."""
    getter = {"input": get_input_directory, "output": get_output_directory, "temp": get_temp_directory}.get(type_name)
    return getter() if getter is not None else None


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    """Search one more folder for `folder_name` (first with is_default, else after the others)."""
    paths, extensions = folder_names_and_paths.setdefault(folder_name, ([], set(supported_pt_extensions)))
    path = str(Path(full_folder_path).expanduser().resolve())
    if path in paths:
        paths.remove(path)
    paths.insert(0 if is_default else len(paths), path)


def get_folder_paths(folder_name: str) -> list[str]:
    """The folders searched for `folder_name`, in order, each once."""
    own = [root.path for root in _folders().model_roots(folder_name)]
    added = folder_names_and_paths.get(folder_name, ([], set()))[0]
    return list(dict.fromkeys([*(str(path) for path in own), *added]))


def get_filename_list(folder_name: str) -> list[str]:
    """Model files of `folder_name` as "/"-separated names relative to their folder, sorted, each once."""
    paths, extensions = folder_names_and_paths.get(folder_name, ([], set(supported_pt_extensions)))
    if folder_name in KINDS:  # Latentloom's model library lists its own roots
        names, walked = set(list_models(_folders(), folder_name)), paths
    else:
        names, walked = set(), get_folder_paths(folder_name)
    for folder in walked:
        names.update(_files_in(Path(folder), tuple(extensions)))
    return sorted(names, key=lambda name: (name.lower(), name))


def _files_in(folder: Path, extensions: tuple[str, ...]) -> list[str]:
    """Files under `folder` ending in one of `extensions` (any file when there are none), links followed as in
    Latentloom's own model folders."""
    return scan_model_folder(folder, extensions).names


def get_full_path(folder_name: str, filename: str) -> str | None:
    """The path of `filename` in the first folder of `folder_name` that has it; None when none has it."""
    if folder_name in KINDS:
        try:
            return str(find_model(_folders(), folder_name, filename))
        except (FileNotFoundError, ValueError):
            pass
    for folder in get_folder_paths(folder_name):
        try:
            path = join_inside(folder, filename, f"{folder_name} folder")
        except ValueError:
            continue
        if path.is_file():
            return str(path)
    return None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    path = get_full_path(folder_name, filename)
    if path is None:
        raise FileNotFoundError(f"'{filename}' is not in the {folder_name} folder: put it in one of "
                                f"{', '.join(get_folder_paths(folder_name))}")
    return path


def annotated_filepath(name: str) -> tuple[str, str | None]:
    """`name` without ComfyUI's " [input]"/" [output]"/" [temp]" suffix, and the folder that suffix names."""
    for suffix, kind in _ANNOTATIONS.items():
        if name.endswith(suffix):
            return name[: -len(suffix)], get_directory_by_type(kind)
    return name, None


def get_annotated_filepath(name: str, default_dir: str | None = None) -> str:
    """The path of an annotated name ("cat.png [output]"); plain names are in `default_dir`, else the input folder.

    Raises ValueError when the name leads outside its folder.
    """
    name, folder = annotated_filepath(name)
    folder = folder or default_dir or get_input_directory()
    return str(resolve_inside(folder, name, f"folder {folder}"))


def exists_annotated_filepath(name: str) -> bool:
    try:
        return os.path.exists(get_annotated_filepath(name))
    except ValueError:
        return False


def get_save_image_path(filename_prefix: str, output_dir: str, image_width: int = 0,
                        image_height: int = 0) -> tuple[str, str, int, str, str]:
    """(folder, file name stem, first free counter, subfolder, prefix) as SaveImage names its files; refuses a
    prefix that leads outside `output_dir`."""
    target = save_target(Path(output_dir), filename_prefix, image_width, image_height)
    return str(target.folder), target.name, target.counter, target.subfolder, filename_prefix
