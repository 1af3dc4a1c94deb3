"""The model library as the server uses it: folder listings with details, and installs (web imports no nodes)."""
from __future__ import annotations

import logging
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
