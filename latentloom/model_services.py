"""The model library as the server uses it: folder listings with details, ComfyUI's model browser, and installs (web
imports no nodes)."""
from __future__ import annotations

import functools
import logging
import os
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Callable

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from graph_engine import Folders
    from model_library.download_policy import DownloadPolicy


def model_describer(folders: Folders) -> Callable[[str], list[dict[str, Any]]]:
    """The server's listing hook for the installation `folders`: each file of a model folder described
    (InstalledModel.as_json: `architecture` is the model's family, FLUX.1 too; `unsupported` says when Latentloom
    cannot run that family; `problem` names broken files and links); hashes only when already computed (a listing
    never hashes).

    `random_weights` marks the demo checkpoint, whose images are noise by design, so a client can say so."""

    def describe_models(folder: str) -> list[dict[str, Any]]:
        from model_library.listing import installed_models
        from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME

        return [model.as_json() | {"random_weights": PurePosixPath(model.name).name == DEMO_CHECKPOINT_NAME}
                for model in installed_models(folders, [folder], compute_hashes=False)]

    return describe_models


def check_install_source(source: str) -> None:
    """Refuse (web.ServiceError) anything but an http(s) URL or a Hugging Face file, by syntax: a web client never
    names a file on the server, and the answer must not tell whether such a file exists."""
    from model_library.install import InstallError, remote_source
    from web import ServiceError

    try:
        remote_source(source)
    except InstallError as error:
        raise ServiceError(f"{error} The server installs only from the network; copy a file that is on this "
                           f"machine with `latentloom models install PATH`.") from None


def model_installer(folders: Folders, policy: DownloadPolicy) -> Callable[
        [str, dict[str, Any], Callable[[int, int | None], None]], dict[str, Any]]:
    """The server's install hook into the installation `folders`: URLs and Hugging Face files only (never a local
    path), under `policy`."""

    def install_model(source: str, fields: dict[str, Any],
                      progress: Callable[[int, int | None], None]) -> dict[str, Any]:
        from model_library.download import DownloadError
        from model_library.install import InstallError, install_model as install
        from model_library.listing import InstalledModel
        from web import ServiceError

        try:
            done = install(folders, source, kind=fields.get("kind"), name=fields.get("name"),
                           revision=fields.get("revision"), progress=progress, policy=policy, local_files=False)
        except (InstallError, DownloadError) as error:
            raise ServiceError(str(error)) from None
        log.info("%s", done.message)  # the server's console; the client gets the message too
        entry = InstalledModel(done.folder, done.name, done.file, done.hashes).as_json() if done.folder else None
        return {"model": entry, "message": done.message, "already_there": done.already_there}

    return install_model


def model_browser_hooks(folders: Folders) -> dict[str, Callable]:
    """ComfyUI's model browser over the installation `folders` (the Services fields `model_roots`, `model_files`,
    `model_metadata`): a folder's roots are those its loaders search, in order, so a file's `pathIndex` names the
    root it was found in."""
    from model_library.folders import scan_model_folder, searched_roots
    from model_library.kinds import KINDS_BY_FOLDER

    def model_files(folder: str) -> list[dict[str, Any]]:
        entries = []
        for index, root in enumerate(searched_roots(folders, folder)):
            for name in scan_model_folder(root, KINDS_BY_FOLDER[folder].suffixes, kind=folder).names:
                try:
                    stat = (root / name).stat()
                except OSError as error:
                    log.warning("model file %s cannot be read (%s); the model browser leaves it out", root / name,
                                error.strerror)
                    continue
                if os.path.isfile(root / name):
                    entries.append({"name": name, "pathIndex": index, "modified": stat.st_mtime,
                                    "created": stat.st_ctime, "size": stat.st_size})
        return entries

    return {"model_roots": functools.partial(searched_roots, folders), "model_files": model_files,
            "model_metadata": functools.partial(safetensors_metadata, folders)}


def safetensors_metadata(folders: Folders, folder: str, name: str) -> dict[str, str] | None:
    """The `__metadata__` of the .safetensors model `name` of `folder`; None when there is no such file, it is no
    complete safetensors file, or it has no metadata; ValueError when the name leaves the folder."""
    from graph_engine import MissingFile
    from model_library.folders import find_model
    from model_library.kinds import SAFETENSORS_SUFFIXES
    from nodes.runtime.checkpoints.errors import CheckpointError
    from nodes.runtime.checkpoints.safetensors_header import read_safetensors_header

    if not name.lower().endswith(SAFETENSORS_SUFFIXES):
        return None
    try:
        return read_safetensors_header(find_model(folders, folder, name)).metadata or None
    except (MissingFile, CheckpointError, OSError):
        return None
