"""Install a model file from a local path, a URL or a Hugging Face reference into the folder its content calls for.

Beginners do not know where a file goes, so the content decides. A local file is identified where it is (its header
is enough), so a broken one is named as the user's own file and nothing is copied. A download is first brought into
`models/.incoming/` (same disk, so the final move is atomic and a half-copied file never shows up in a list), then
identified there. Either goes into checkpoints/, loras/, vae/ or embeddings/. Nothing is ever deleted that the user
may still want: a file whose kind cannot be told goes to `models/unsorted/` with advice, a refused download is kept
where the message says. The server installs with `local_files=False`: what a web client names is read as a URL or a
Hub reference by its syntax alone, never as a path on the server.

Installs never write through a symbolic link. The file goes into the real folder that models/<kind> is, or that the
owner's link of that name leads to (LoRAs kept on a big drive, say), under a plain file name, by way of a hidden
partial name in that same folder. A link that already has the file's name is replaced only with --force, and then
the link itself is replaced, never the file it points to.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlparse

from graph_engine import Folders
from .folders import link_problem
from .kinds import KIND_FOLDERS, MODEL_SUFFIXES

from .download import HubFile, Progress, download_hub_file, download_url, parse_hub_reference
from .download_policy import DownloadPolicy
from .hashes import FileHashes, HashCache, open_hash_cache
from .identify import ModelFile, identify_model

INCOMING = ".incoming"
UNSORTED = "unsorted"
NOTHING_COPIED = "Nothing was copied into the models folder."
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


@dataclass(frozen=True)
class _Into:
    """The installation an install puts files into, and its hash database (open for the install)."""

    folders: Folders
    hashes: HashCache


def install_model(folders: Folders, source: str, *, kind: str | None = None, name: str | None = None,
                  revision: str | None = None, link: bool = False, force: bool = False, token: str | None = None,
                  progress: Progress | None = None, policy: DownloadPolicy = DownloadPolicy(),
                  local_files: bool = True) -> Installed:
    """Identify `source` and put it in the folder of the installation `folders` it belongs in; raises InstallError
    or DownloadError.

    `local_files=False` never reads a local path, even one that exists; `policy` bounds the download.
    """
    local = Path(source).expanduser() if local_files else None
    is_local = local is not None and local.is_file()
    if link and not is_local:
        raise InstallError(f"--link needs a local file; {source} is not one.")
    with open_hash_cache(folders) as hashes:
        into = _Into(folders, hashes)
        if is_local:
            return _install_local(local, kind, name, link, force, into)
        staged = _download(source, name, revision, token, progress, policy, local_files, folders)
        return _install_download(staged, kind, force, into)


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


def _install_local(source: Path, kind: str | None, name: str | None, link: bool, force: bool,
                   into: _Into) -> Installed:
    """A file on this machine, checked where it is before anything is copied."""
    file = identify_model(source)
    if file.problem:
        raise InstallError(f"{file.problem} {NOTHING_COPIED}")
    folder = _folder_for(file, kind, source.name, NOTHING_COPIED)
    wanted = _safe_name(name or source.name)
    if folder is None:
        target = _free_name(_install_folder(into.folders, UNSORTED) / wanted)
        _place(source, target, link)
        return _kept_unsorted(target, file, into.hashes)
    target = _install_folder(into.folders, folder) / _final_name(wanted, file)
    if os.path.lexists(target):
        existing = _existing_target(source, target, folder, file, force, f"Your file was not copied: {source}.",
                                    into.hashes)
        if existing is not None:
            return existing
    _place(source, target, link)
    return _installed(target, folder, file, into.hashes)


def _install_download(staged: Path, kind: str | None, force: bool, into: _Into) -> Installed:
    """A file downloaded into models/.incoming/, identified there and moved to its folder."""
    kept = f"The file was kept as {staged}."
    file = identify_model(staged)
    if file.problem:
        raise InstallError(f"{file.problem} {kept}")
    folder = _folder_for(file, kind, staged.name, kept)
    if folder is None:
        target = _free_name(_install_folder(into.folders, UNSORTED) / staged.name)
        _move(staged, target)
        return _kept_unsorted(target, file, into.hashes)
    target = _install_folder(into.folders, folder) / _final_name(staged.name, file)
    if os.path.lexists(target):
        existing = _existing_target(staged, target, folder, file, force, f"The new file was kept as {staged}.",
                                    into.hashes)
        if existing is not None:
            staged.unlink()
            return existing
    _move(staged, target)
    return _installed(target, folder, file, into.hashes)


def _download(source: str, name: str | None, revision: str | None, token: str | None, progress: Progress | None,
              policy: DownloadPolicy, local_files: bool, folders: Folders) -> Path:
    """The source downloaded into models/.incoming/ (hub files keep their path in the repo below it)."""
    try:
        remote = remote_source(source, revision)
    except InstallError:
        if not local_files:
            raise
        raise InstallError(f"'{source}' is not an existing file, an https:// URL, or a Hugging Face file "
                           f"reference such as org/repo/path/model.safetensors.") from None
    incoming = folders.models / INCOMING
    incoming.mkdir(parents=True, exist_ok=True)
    if isinstance(remote, HubFile):
        fetched = download_hub_file(remote, incoming, token=token, progress=progress, policy=policy)
        return _renamed(fetched, name)
    wanted = name or unquote(Path(urlparse(remote).path).name) or "download"
    return download_url(remote, incoming / _safe_name(wanted), token=token, progress=progress, policy=policy)


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


def _folder_for(file: ModelFile, kind: str | None, name: str, not_installed: str) -> str | None:
    """The models subfolder the content belongs in; --kind only decides when the content cannot."""
    detected = KIND_FOLDERS.get(file.kind)
    wanted = KIND_FOLDERS.get(kind) if kind else None
    if kind and wanted is None:
        raise InstallError(f"unknown kind '{kind}'; the kinds are {', '.join(KIND_FOLDERS)}.")
    if detected and wanted and detected != wanted:
        raise InstallError(f"{name} is {file.description}, not a {kind}: install it without --kind (it goes "
                           f"to models/{detected}). {not_installed}")
    return detected or wanted


def _final_name(name: str, file: ModelFile) -> str:
    """Downloads without a model suffix (e.g. .../download?id=1) get the one their content has."""
    if name.lower().endswith(MODEL_SUFFIXES):
        return name
    return name + (".safetensors" if file.file_format == "safetensors" else ".ckpt")


def _install_folder(folders: Folders, folder: str) -> Path:
    """The real folder new files of `folder` go into: models/<folder>, or the folder the owner's link of that name
    leads to; InstallError when that link leads nowhere (a drive not mounted: its folders are never made here)."""
    first = folders.models / folder
    problem = link_problem(first)
    if problem is not None:
        raise InstallError(f"{first} is {problem}. Nothing was installed.")
    real = Path(os.path.realpath(first))
    real.mkdir(parents=True, exist_ok=True)
    return real


def _free_name(target: Path) -> Path:
    """`target`, or a name beside it that no file (or link) has yet."""
    if not os.path.lexists(target):
        return target
    return target.with_name(f"{Path(target.name).stem}-{os.getpid()}{target.suffix}")


def _place(source: Path, target: Path, link: bool) -> None:
    """Copy (or hard-link) `source` to `target` through a hidden partial name beside it: a half-written file never
    shows in a list, and a copy that fails (disk full, Ctrl-C) leaves nothing behind."""
    part = target.with_name(f".{target.name}.part")
    part.unlink(missing_ok=True)
    try:
        if link:
            try:
                os.link(source, part)
            except OSError as error:
                raise InstallError(f"cannot link {source} into {target.parent} ({error.strerror}): a link needs both "
                                   f"on one disk. Copy it (leave out --link), or name its folder in "
                                   f"extra_model_paths.yaml to use it in place. {NOTHING_COPIED}") from None
        else:
            shutil.copyfile(source, part)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def _move(staged: Path, target: Path) -> None:
    """Move a download to its folder: a rename, or a copy when the folder is on another disk (a linked folder)."""
    try:
        os.replace(staged, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        _place(staged, target, link=False)
        staged.unlink()


def _existing_target(source: Path, target: Path, folder: str, file: ModelFile, force: bool,
                     not_installed: str, hashes: HashCache) -> Installed | None:
    """Installed (already there) when `target` holds the same bytes; None when --force may replace it; else
    InstallError. A link of that name is compared by what it points to and, with --force, replaced itself."""
    if os.path.exists(target) and hashes.hashes(target).sha256 == hashes.hashes(source).sha256:
        return Installed(target, folder, target.name, replace(file, path=target), hashes.hashes(target), True,
                         f"{target.name} is already installed in models/{folder} (same sha256).")
    if force:
        return None
    what = " (a symbolic link: --force replaces the link, not the file it points to)" if target.is_symlink() else ""
    raise InstallError(f"models/{folder} already has a different {target.name}{what}: rerun with --force to replace "
                       f"it, or with --name to install under another name. {not_installed}")


def _installed(target: Path, folder: str, file: ModelFile, hashes: HashCache) -> Installed:
    message = f"installed {file.description} ({file.precision or 'unknown precision'}) as models/{folder}/{target.name}"
    if file.unsupported:
        message += f": a valid file, but {file.unsupported}"
    return Installed(target, folder, target.name, replace(file, path=target), hashes.hashes(target), False, message)


def _kept_unsorted(target: Path, file: ModelFile, hashes: HashCache) -> Installed:
    if file.kind == "unknown":
        message = (f"could not tell what {target.name} is; it was kept as {target}. If you know its kind, install it "
                   f"again with --kind, or move it to the matching models/ folder.")
    else:
        message = f"{target.name} is {file.description}: {file.advice} It was kept as {target}."
    return Installed(target, None, target.name, replace(file, path=target), hashes.hashes(target), False, message)
