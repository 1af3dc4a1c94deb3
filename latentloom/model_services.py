"""The model library as the server uses it: folder listings with details, and installs (web imports no nodes)."""
from __future__ import annotations

from typing import Any, Callable


def describe_models(folder: str) -> list[dict[str, Any]]:
    """Each file of a model folder described; hashes only when already computed (a listing never hashes)."""
    from nodes.model_library.listing import installed_models

    return [model.as_json() for model in installed_models([folder], compute_hashes=False)]


def install_model(source: str, fields: dict[str, Any], progress: Callable[[int, int | None], None]) -> dict[str, Any]:
    """Install from a URL or Hugging Face reference; failures with advice become web.ServiceError."""
    from nodes.model_library.download import DownloadError
    from nodes.model_library.install import InstallError, install_model as install
    from nodes.model_library.listing import InstalledModel
    from web import ServiceError

    try:
        done = install(source, kind=fields.get("kind"), name=fields.get("name"), revision=fields.get("revision"),
                       progress=progress)
    except (InstallError, DownloadError) as error:
        raise ServiceError(str(error)) from None
    entry = InstalledModel(done.folder, done.name, done.file, done.hashes).as_json() if done.folder else None
    return {"model": entry, "message": done.message, "already_there": done.already_there}
