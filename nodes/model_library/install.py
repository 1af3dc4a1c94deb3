"""Install a model file from a local path, a URL or a Hugging Face reference into the folder its content calls for.

Beginners do not know where a file goes, so the content decides: the file is first brought into
`models/.incoming/` (same disk, so the final move is atomic and a half-copied file never shows up in a list), then
identified from its header and moved into checkpoints/, loras/, vae/ or embeddings/. Nothing is ever deleted that
the user may still want: a file whose kind cannot be told goes to `models/unsorted/` with advice, a refused
install leaves the downloaded file where the message says. The server installs with `local_files=False`: what a
web client names is read as a URL or a Hub reference by its syntax alone, never as a path on the server.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlparse

from nodes.runtime.checkpoints import MODEL_SUFFIXES
from nodes.runtime.model_folders import model_roots, models_folder

from .download import DownloadError, HubFile, Progress, download_hub_file, download_url, parse_hub_reference
from .download_policy import DownloadPolicy
from .hashes import FileHashes, file_hashes
from .identify import ModelFile, identify_model
from .listing import KIND_FOLDERS

INCOMING = ".incoming"
UNSORTED = "unsorted"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ ()+\-\[\]]")
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")


class InstallError(Exception):
    """An install that cannot go ahead; the message says what happened to the file and what to do."""


@dataclass(frozen=True)
class Installed:
    """Where the file ended up (`folder` None: unsorted), what it is, and its hashes."""

    path: Path
    folder: str | None
    name: str
    file: ModelFile
    hashes: FileHashes
    already_there: bool  # the same bytes were already installed under that name
    message: str


def install_model(source: str, *, kind: str | None = None, name: str | None = None, revision: str | None = None,
                  link: bool = False, force: bool = False, token: str | None = None,
                  progress: Progress | None = None, policy: DownloadPolicy = DownloadPolicy(),
                  local_files: bool = True) -> Installed:
    """Bring `source` in, identify it, and move it to its folder; raises InstallError or DownloadError.

    `local_files=False` never reads a local path, even one that exists; `policy` bounds the download.
    """
    staged = _stage(source, name, revision, link, token, progress, policy, local_files)
    file = identify_model(staged)
    if file.problem:
        raise InstallError(f"{file.problem} The file was kept as {staged}.")
    folder = _folder_for(file, kind, staged)
    if folder is None:
        return _keep_unsorted(staged, file)
    target = model_roots(folder)[0] / _final_name(staged, file)
    return _move_into(staged, target, folder, file, force)


def remote_source(source: str, revision: str | None = None) -> HubFile | str:
    """`source` as a Hugging Face file or an http(s) URL, judged by its syntax alone (no file is looked at);
    InstallError for anything else, with the same words whether or not such a path exists on this machine."""
    hub_file = parse_hub_reference(source, revision)
    if hub_file is not None:
        return hub_file
    if _is_web_url(source):
        return source
    raise InstallError(f"'{source}' is not an http:// or https:// URL or a Hugging Face file reference such as "
                       f"org/repo/path/model.safetensors.")


def _is_web_url(text: str) -> bool:
    if _SPACE_OR_CONTROL.search(text):
        return False
    try:
        parsed = urlparse(text)
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return parsed.scheme in ("https", "http") and bool(parsed.hostname)


def _stage(source: str, name: str | None, revision: str | None, link: bool, token: str | None,
           progress: Progress | None, policy: DownloadPolicy, local_files: bool) -> Path:
    """The source as a file in models/.incoming/ (hub files keep their path in the repo below it)."""
    incoming = models_folder() / INCOMING
    incoming.mkdir(parents=True, exist_ok=True)
    if local_files:
        local = Path(source).expanduser()
        if local.is_file():
            return _stage_local(local, incoming / _safe_name(name or local.name), link)
    if link:
        raise InstallError(f"--link needs a local file; {source} is not one.")
    try:
        remote = remote_source(source, revision)
    except InstallError:
        if not local_files:
            raise
        raise InstallError(f"'{source}' is not an existing file, an https:// URL, or a Hugging Face file "
                           f"reference such as org/repo/path/model.safetensors.") from None
    if isinstance(remote, HubFile):
        fetched = download_hub_file(remote, incoming, token=token, progress=progress, policy=policy)
        return _renamed(fetched, name)
    wanted = name or unquote(Path(urlparse(remote).path).name) or "download"
    return download_url(remote, incoming / _safe_name(wanted), token=token, progress=progress, policy=policy)


def _stage_local(source: Path, staged: Path, link: bool) -> Path:
    if link:
        try:
            os.link(source, staged.with_name(staged.name + ".part"))
        except OSError as error:
            raise InstallError(f"cannot link {source} into {staged.parent} ({error.strerror}): a link needs both on "
                               f"one disk. Copy it (leave out --link), or name its folder in "
                               f"extra_model_paths.yaml to use it in place.") from None
    else:
        shutil.copyfile(source, staged.with_name(staged.name + ".part"))
    os.replace(staged.with_name(staged.name + ".part"), staged)
    return staged


def _renamed(fetched: Path, name: str | None) -> Path:
    if not name:
        return fetched
    renamed = fetched.with_name(_safe_name(name))
    os.replace(fetched, renamed)
    return renamed


def _safe_name(name: str) -> str:
    """A plain file name: no folders, no leading dot, nothing a shell or a file system trips on."""
    cleaned = _UNSAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).lstrip(".")
    return cleaned or "model"


def _folder_for(file: ModelFile, kind: str | None, staged: Path) -> str | None:
    """The models subfolder the content belongs in; --kind only decides when the content cannot."""
    detected = KIND_FOLDERS.get(file.kind)
    wanted = KIND_FOLDERS.get(kind) if kind else None
    if kind and wanted is None:
        raise InstallError(f"unknown kind '{kind}'; the kinds are {', '.join(KIND_FOLDERS)}.")
    if detected and wanted and detected != wanted:
        raise InstallError(f"{staged.name} is {file.description}, not a {kind}: install it without --kind (it goes "
                           f"to models/{detected}). The file was kept as {staged}.")
    return detected or wanted


def _final_name(staged: Path, file: ModelFile) -> str:
    """Downloads without a model suffix (e.g. .../download?id=1) get the one their content has."""
    if staged.name.lower().endswith(MODEL_SUFFIXES):
        return staged.name
    return staged.name + (".safetensors" if file.file_format == "safetensors" else ".ckpt")


def _move_into(staged: Path, target: Path, folder: str, file: ModelFile, force: bool) -> Installed:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        if file_hashes(target).sha256 == file_hashes(staged).sha256:
            staged.unlink()
            return Installed(target, folder, target.name, replace(file, path=target), file_hashes(target), True,
                             f"{target.name} is already installed in models/{folder} (same sha256).")
        if not force:
            raise InstallError(f"models/{folder} already has a different {target.name}: rerun with --force to "
                               f"replace it, or with --name to install under another name. The new file was "
                               f"kept as {staged}.")
    os.replace(staged, target)
    message = f"installed {file.description} ({file.precision or 'unknown precision'}) as models/{folder}/{target.name}"
    return Installed(target, folder, target.name, replace(file, path=target), file_hashes(target), False, message)


def _keep_unsorted(staged: Path, file: ModelFile) -> Installed:
    unsorted = models_folder() / UNSORTED
    unsorted.mkdir(parents=True, exist_ok=True)
    target = unsorted / staged.name
    if target.exists():
        target = unsorted / f"{staged.stem}-{os.getpid()}{staged.suffix}"
    os.replace(staged, target)
    if file.kind == "unknown":
        message = (f"could not tell what {staged.name} is; it was kept as {target}. If you know its kind, install it "
                   f"again with --kind, or move it to the matching models/ folder.")
    else:
        message = f"{staged.name} is {file.description}: {file.advice} It was kept as {target}."
    return Installed(target, None, target.name, replace(file, path=target), file_hashes(target), False, message)
