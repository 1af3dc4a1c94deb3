"""Fetch model files over HTTP(S) or from the Hugging Face Hub, resumably, verified, with errors a beginner can act on.

Model files are gigabytes: a dropped connection must not cost the whole transfer, a login page saved as
`model.safetensors` must never reach the loader, and "HTTP 401" means nothing to someone who has not heard of
gated repositories. Plain URLs stream into `<name>.part` beside the destination and resume from it with a Range
request (also on a later run); Hub files go through `huggingface_hub.hf_hub_download`, then are checked against
the sha256 the Hub publishes for LFS files. Every transfer runs under a DownloadPolicy: the addresses it may
connect to (each redirect hop is followed here and checked again) and its size, stall and time limits. The
install command (kind detection, folders) lives elsewhere.
"""
from __future__ import annotations

import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urljoin, urlparse

from .download_policy import AddressNotAllowed, DownloadPolicy
from .hashes import file_sha256
from .identify import looks_like_html

logger = logging.getLogger(__name__)

Progress = Callable[[int, "int | None"], None]  # (bytes done, total bytes or None when unknown)

CHUNK = 1024 * 1024
RETRY_DELAY_S = 0.5  # grows linearly with the attempt number; tests keep it short
_HUB_HOSTS = {"huggingface.co", "www.huggingface.co", "hf.co"}
_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_PATH_PART = re.compile(r"^[^\x00-\x1f\x7f\\/:*?\"<>|#%]+$")  # a file or folder name in a repository
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}
_REDIRECT_STATUSES = {301, 302, 303, 307, 308}


class DownloadError(Exception):
    """A failed download, with a message written for the user: what failed, which URL/file, what to do."""


@dataclass(frozen=True)
class HubFile:
    """One file of a Hugging Face repository, at a revision (None: the default branch)."""

    repo_id: str
    filename: str
    revision: str | None = None
    repo_type: str = "model"

    @property
    def display(self) -> str:
        at = f" (revision {self.revision})" if self.revision else ""
        return f"{self.repo_id}/{self.filename}{at}"


class _Interrupted(Exception):
    """The connection failed mid-way; what arrived is on disk and the next attempt resumes from it."""

    def __init__(self, reason: str, progressed: bool, stalled: bool = False) -> None:
        super().__init__(reason)
        self.progressed, self.stalled = progressed, stalled


# --------------------------------------------------------------------------------------------- references


def parse_hub_reference(text: str, revision: str | None = None) -> HubFile | None:
    """`org/repo/path/file.safetensors` or a huggingface.co resolve/blob URL -> HubFile; None for anything else.

    Syntax only: a relative local path like `models/x/y.safetensors` looks the same, so callers check for an
    existing local file first. An explicit `revision` wins over the one written in a URL.
    """
    text = text.strip()
    if text.startswith(("http://", "https://")):
        return _parse_hub_url(text, revision)
    if text.startswith(("/", "./", "../", "~")) or "\\" in text or ":" in text:
        return None
    parts = text.split("/")
    if len(parts) < 3 or any(p in (".", "..") or p != p.strip() or not _PATH_PART.match(p) for p in parts):
        return None
    org, name, path = parts[0], parts[1], parts[2:]
    if not (_REPO_PART.match(org) and _REPO_PART.match(name)) or "." not in path[-1]:
        return None
    return HubFile(f"{org}/{name}", "/".join(path), revision)


def _parse_hub_url(url: str, revision: str | None) -> HubFile | None:
    """huggingface.co/[datasets/]org/repo/(resolve|blob)/rev/path -> HubFile (a blob page means its file)."""
    parsed = urlparse(url)
    if (parsed.hostname or "").lower() not in _HUB_HOSTS:
        return None
    parts = [unquote(p) for p in parsed.path.split("/") if p]
    repo_type = "model"
    if parts and parts[0] in ("datasets", "spaces"):
        repo_type, parts = parts[0][:-1], parts[1:]
    if len(parts) < 5 or parts[2] not in ("resolve", "blob"):
        return None
    return HubFile(f"{parts[0]}/{parts[1]}", "/".join(parts[4:]), revision or parts[3], repo_type)


# --------------------------------------------------------------------------------------------- plain URLs


def download_url(
    url: str,
    destination: Path,
    *,
    progress: Progress | None = None,
    token: str | None = None,
    expected_sha256: str | None = None,
    retries: int = 3,
    policy: DownloadPolicy = DownloadPolicy(),
) -> Path:
    """Download `url` to `destination`, resuming `<destination>.part` if a previous run left one.

    The file only appears under its final name once complete (and sha256-checked when `expected_sha256` is
    given), so a half-downloaded or wrong file is never picked up as a model. `policy` decides which addresses
    may be reached (the default: public ones only) and bounds the size and the time.
    """
    destination = Path(destination)
    part = destination.with_name(destination.name + ".part")
    destination.parent.mkdir(parents=True, exist_ok=True)
    _discard_if_html(part)
    ends_at = None if policy.time_limit_s is None else time.monotonic() + policy.time_limit_s
    transfer = _Transfer(url, part, token, progress, policy, ends_at)
    total = _download_with_retries(transfer, retries)
    _check_complete(url, part, total)
    if expected_sha256:
        _check_sha256(url, part, expected_sha256)
    os.replace(part, destination)
    logger.info("Downloaded %s to %s", url, destination)
    return destination


@dataclass(frozen=True)
class _Transfer:
    """One download_url call: what goes where, who hears of the progress, and the limits it runs under."""

    url: str
    part: Path
    token: str | None
    progress: Progress | None
    policy: DownloadPolicy
    ends_at: float | None  # time.monotonic() by which it must be done

    def check_time(self) -> None:
        if self.ends_at is not None and time.monotonic() > self.ends_at:
            raise DownloadError(
                f"Downloading {self.url} took longer than the time limit of {self.policy.time_limit_s:g} s. The "
                f"part already downloaded is kept in {self.part}; try again later to resume from there.")

    def check_size(self, size: int | None) -> None:
        """A file (announced or received) over the size limit is refused and its partial file removed."""
        limit = self.policy.max_bytes
        if size is not None and limit is not None and size > limit:
            self.part.unlink(missing_ok=True)
            raise _too_large_error(self.url, size, limit)


def _too_large_error(source: str, size: int, limit: int) -> DownloadError:
    return DownloadError(f"{source} is {size:,} bytes or more, over the download size limit of {limit:,} bytes; "
                         f"nothing was kept.")


def _download_with_retries(transfer: _Transfer, retries: int) -> int | None:
    """Attempt the transfer, resuming after dropped connections; failures that made progress do not count, and
    a connection that stalls again right after one that stalled ends it."""
    failures = 0
    while True:
        transfer.check_time()
        try:
            return _fetch_into(transfer)
        except _Interrupted as interruption:
            if interruption.stalled and not interruption.progressed:
                raise _interrupted_error(transfer.url, transfer.part, f"{interruption}, the stall limit") \
                    from interruption
            failures = 0 if interruption.progressed else failures + 1
            if failures > retries:
                raise _interrupted_error(transfer.url, transfer.part, str(interruption)) from interruption
            delay = RETRY_DELAY_S * max(failures, 1)
            logger.warning("Download of %s interrupted (%s); resuming in %.1f s", transfer.url, interruption, delay)
            time.sleep(delay)


def _fetch_into(transfer: _Transfer) -> int | None:
    """One HTTP request, appending to the partial file from where it stops; returns the file's total size if
    known."""
    url, part = transfer.url, transfer.part
    have = part.stat().st_size if part.exists() else 0
    response = _open(transfer, have)
    try:
        if response is None:  # 416: the partial file already holds the whole file
            return have
        start, total = _response_span(url, response, have)
        transfer.check_size(total)
        first = _read(response, transfer, progressed=False)
        if start == 0:
            _refuse_html(url, response, first)
        return _stream(response, transfer, start, total, first)
    finally:
        if response is not None:
            response.close()


def _open(transfer: _Transfer, have: int):
    """Send the request (with Range when resuming); map HTTP errors to advice, network errors to _Interrupted."""
    url, token = transfer.url, transfer.token
    headers = {"User-Agent": "latentloom", "Accept-Encoding": "identity"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        return _request(transfer, headers)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and have:
            return _on_range_not_satisfiable(url, error, have)
        if error.code in _TRANSIENT_STATUSES:
            raise _Interrupted(f"the server answered HTTP {error.code}", progressed=False) from error
        raise _http_error(url, error.code, token) from error
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            raise _Interrupted(f"the server did not answer for {transfer.policy.stall_s:g} s", progressed=False,
                               stalled=True) from error
        raise _Interrupted(f"could not connect: {reason}", progressed=False) from error


def _request(transfer: _Transfer, headers: dict[str, str]):
    """GET the URL, following redirects one hop at a time: each hop connects only where the policy allows, and
    the token never goes to another host (a CDN behind a redirect gets a signed URL instead)."""
    opener = transfer.policy.opener()
    url = transfer.url
    for _ in range(transfer.policy.max_redirects + 1):
        try:
            return opener.open(urllib.request.Request(url, headers=headers), timeout=transfer.policy.stall_s)
        except AddressNotAllowed:
            raise DownloadError(_not_allowed_message(transfer.url, redirected=url != transfer.url)) from None
        except urllib.error.HTTPError as error:
            location = error.headers.get("Location")
            if error.code not in _REDIRECT_STATUSES or not location:
                raise
            error.close()
            url, headers = _next_hop(transfer.url, url, location, headers)
    raise DownloadError(f"{transfer.url} redirected more than {transfer.policy.max_redirects} times; check the link.")


def _next_hop(asked: str, current: str, location: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    target = urljoin(current, location)
    if urlparse(target).scheme not in ("http", "https"):
        raise DownloadError(f"{asked} redirected to an address that is not http:// or https://; only those are "
                            f"downloaded.")
    if urlparse(target).netloc != urlparse(current).netloc:
        headers = {name: value for name, value in headers.items() if name != "Authorization"}
    return target, headers


def _not_allowed_message(url: str, redirected: bool) -> str:
    """The same sentence whatever answers there: a web client learns nothing about the server's network."""
    where = "redirected to an address" if redirected else "is on an address"
    return (f"{url} {where} that is not allowed: this server downloads only from public internet addresses, not "
            f"from itself, its local network or cloud metadata services. Its owner can allow those by starting it "
            f"with --allow-private-downloads.")


def _on_range_not_satisfiable(url: str, error: urllib.error.HTTPError, have: int) -> None:
    """A 416 means the partial file is complete, or longer than the file: then it is wrong and is removed."""
    total = _int_after_slash(error.headers.get("Content-Range"))
    if total == have:
        return None
    raise DownloadError(
        f"The partial download of {url} is larger than the file on the server, so it belongs to another file "
        f"or version. Delete the '.part' file next to the destination and run the command again."
    )


def _response_span(url: str, response, have: int) -> tuple[int, int | None]:
    """Where this response's body starts in the file and the file's total size (None when unknown)."""
    length = _int_or_none(response.headers.get("Content-Length"))
    if response.status == 206:
        match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
        if match is None or int(match.group(1)) > have:
            raise DownloadError(f"{url} answered a resume request with a range that does not continue the partial file; delete the '.part' file and run again.")
        total = None if match.group(2) == "*" else int(match.group(2))
        return int(match.group(1)), total
    if have:
        logger.info("%s ignored the resume request; downloading it again from the start", url)
    return 0, length


def _stream(response, transfer: _Transfer, start: int, total: int | None, first: bytes) -> int | None:
    """Write the body at `start` in the partial file; a body shorter than announced is an interruption, not an
    end. The size and time limits are checked as the bytes come, as a server may announce no size or lie."""
    expected_body = None if total is None else total - start
    part, progress = transfer.part, transfer.progress
    mode = "r+b" if part.exists() else "wb"
    done, received = start, 0
    with open(part, mode) as handle:
        handle.seek(start)
        handle.truncate()
        _report(progress, done, total)
        chunk = first
        while chunk:
            handle.write(chunk)
            handle.flush()  # what arrived is kept for a resume even if the process ends in the middle
            received += len(chunk)
            done += len(chunk)
            transfer.check_size(done)
            _report(progress, done, total)
            transfer.check_time()
            chunk = _read(response, transfer, progressed=received > 0)
        if expected_body is not None and received < expected_body:
            raise _Interrupted(f"the connection closed after {done} of {total} bytes", progressed=received > 0)
    return total


def _read(response, transfer: _Transfer, progressed: bool) -> bytes:
    """Read what has arrived (up to one chunk, so the limits are checked while a server trickles); a reset,
    stall or truncated body becomes _Interrupted."""
    try:
        return response.read1(CHUNK)
    except TimeoutError as error:
        raise _Interrupted(f"no data arrived for {transfer.policy.stall_s:g} s", progressed=progressed,
                           stalled=True) from error
    except (http.client.HTTPException, OSError) as error:
        raise _Interrupted(f"the connection dropped: {error!r}", progressed=progressed) from error


def _report(progress: Progress | None, done: int, total: int | None) -> None:
    if progress is not None:
        progress(done, total)


def _check_complete(url: str, part: Path, total: int | None) -> None:
    """The partial file must have exactly the announced size before it may take the final name."""
    size = part.stat().st_size
    if total is not None and size != total:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url} gave {size} bytes but announced {total}; the incomplete file was deleted. Run the command again.")


def _check_sha256(source: str, path: Path, expected: str) -> None:
    """Delete a file whose sha256 is not the published one: it is proven corrupt or a different file."""
    actual = file_sha256(path)
    if actual != expected.lower():
        path.unlink(missing_ok=True)
        raise DownloadError(
            f"The file downloaded from {source} is not the expected one: its sha256 is {actual}, "
            f"expected {expected.lower()}. It was deleted. Run the command again; if this repeats, the file on the "
            f"server changed or is corrupt, so check the link or the published hash."
        )


# --------------------------------------------------------------------------------------------- HTML pages


def _refuse_html(url: str, response, first: bytes) -> None:
    """A web page where a model was expected (login page, model page, HF 'blob' link): refuse it with advice."""
    content_type = (response.headers.get("Content-Type") or "").lower()
    if content_type.startswith(("text/html", "application/xhtml")) or looks_like_html(first):
        raise DownloadError(
            f"{url} returned a web page (HTML), not a model file. The link probably points to a page about the "
            f"model or to a login page. Use the file's direct download link: on Hugging Face the 'resolve' link or "
            f"simply 'org/repo/path/file.safetensors' (not the 'blob' page); on civitai the link behind the "
            f"Download button, adding your API token if the model needs an account. Nothing was saved."
        )


def _discard_if_html(part: Path) -> None:
    """A partial file that starts like a web page can never become a model: remove it before resuming onto it."""
    if part.is_file():
        with open(part, "rb") as handle:
            head = handle.read(64)
        if looks_like_html(head):
            logger.warning("Deleting %s: it holds a web page, not part of a model file", part)
            part.unlink()


# --------------------------------------------------------------------------------------------- HTTP helpers


def _http_error(url: str, status: int, token: str | None) -> DownloadError:
    """HTTP status -> what it means for someone downloading a model, and what to do."""
    if status in (401, 403):
        sent = "The token you gave was refused" if token else "No access token was sent"
        return DownloadError(
            f"{url} refused access (HTTP {status}): the file needs an account or permission. {sent}. "
            f"For a Hugging Face gated or private repository, accept its terms on the model page and set HF_TOKEN "
            f"to an access token (https://huggingface.co/settings/tokens); for civitai, use an API token."
        )
    if status == 404:
        return DownloadError(f"{url} was not found (HTTP 404). Check the link for typos, or whether the file was moved or removed.")
    return DownloadError(f"Downloading {url} failed: the server answered HTTP {status}. Try again later or check the link.")


def _interrupted_error(url: str, part: Path, reason: str) -> DownloadError:
    return DownloadError(
        f"Downloading {url} kept failing ({reason}). The part already downloaded is kept in {part}; "
        f"run the same command again to resume from there once the connection works."
    )


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _int_after_slash(content_range: str | None) -> int | None:
    return _int_or_none(content_range.rsplit("/", 1)[-1]) if content_range else None


# --------------------------------------------------------------------------------------------- Hugging Face


def download_hub_file(
    ref: HubFile,
    destination_dir: Path,
    *,
    token: str | None = None,
    progress: Progress | None = None,
    policy: DownloadPolicy = DownloadPolicy(),
) -> Path:
    """Fetch one Hub file into `destination_dir/<path in repo>` and verify its sha256: huggingface_hub resolves the
    revision, authenticates and finds the file; plain files stream through download_url (resumable across runs),
    Xet-stored ones through hf_hub_download.

    The revision is resolved to a commit first, so the hash checked is the one of the bytes downloaded even if
    the branch moves meanwhile. HF_ENDPOINT is read now (not at import) so mirrors and tests can point elsewhere;
    it is the installation's own setting, so `policy` governs where the Hub sends the download (its CDN), not the
    Hub itself. A Xet-stored file is checked against the size limit before it starts; the stall and time limits
    apply to plain files only.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    token = token or os.environ.get("HF_TOKEN") or None  # None: huggingface_hub falls back to `hf auth login`
    endpoint = os.environ.get("HF_ENDPOINT") or None
    with _hub_errors(ref, token, endpoint, transferring=False):
        url = hf_hub_url(ref.repo_id, ref.filename, repo_type=ref.repo_type, revision=ref.revision, endpoint=endpoint)
        metadata = get_hf_file_metadata(url, token=token, endpoint=endpoint)
    if metadata.size is not None and policy.max_bytes is not None and metadata.size > policy.max_bytes:
        raise _too_large_error(ref.display, metadata.size, policy.max_bytes)
    if metadata.xet_file_data is None:
        return _download_hub_bytes(ref, url, metadata, destination_dir, token, progress, policy)
    with _hub_errors(ref, token, endpoint, transferring=True):
        path = hf_hub_download(
            ref.repo_id,
            ref.filename,
            repo_type=ref.repo_type,
            revision=metadata.commit_hash or ref.revision,
            token=token,
            local_dir=destination_dir,
            endpoint=endpoint,
            tqdm_class=_progress_tqdm(progress),
        )
    path = Path(path)
    _verify_hub_file(ref, path, metadata.etag, metadata.size)
    return path


def _download_hub_bytes(ref: HubFile, url: str, metadata, destination_dir: Path, token: str | None,
                        progress: Progress | None, policy: DownloadPolicy) -> Path:
    """A plain (LFS or inline) Hub file through download_url, so an interrupted transfer resumes on the next run
    too: hf_hub_download deletes its partial file when it gives up. The token goes only to the Hub's own host; a
    CDN location is a signed URL."""
    same_host = urlparse(metadata.location).netloc == urlparse(url).netloc
    destination = Path(destination_dir) / ref.filename
    etag = (metadata.etag or "").lower()
    try:
        path = download_url(metadata.location, destination, progress=progress, token=token if same_host else None,
                            expected_sha256=etag if _SHA256.match(etag) else None, policy=policy)
    except DownloadError as error:  # name the file the user asked for, not a signed CDN address
        raise DownloadError(str(error).replace(metadata.location, ref.display)) from None
    _verify_hub_file(ref, path, None, metadata.size)
    return path


def _verify_hub_file(ref: HubFile, path: Path, etag: str | None, size: int | None) -> None:
    """huggingface_hub checks the size of a plain HTTP download but not its hash: check the LFS sha256 here."""
    if size is not None and path.stat().st_size != size:
        path.unlink(missing_ok=True)
        raise DownloadError(f"{ref.display} arrived with {path.stat().st_size if path.exists() else 0} bytes instead of {size}; it was deleted. Run the command again.")
    if etag and _SHA256.match(etag.lower()):
        _check_sha256(ref.display, path, etag)
    else:
        logger.debug("%s is not an LFS file (etag %s): the Hub publishes no sha256 to check", ref.display, etag)


def _progress_tqdm(progress: Progress | None):
    """A silent tqdm class forwarding huggingface_hub's byte counts to `progress` (None: no forwarding)."""
    if progress is None:
        return None
    from tqdm import tqdm

    class _ForwardingTqdm(tqdm):
        def __init__(self, *args, **kwargs) -> None:
            kwargs.pop("name", None)  # huggingface_hub's own tqdm option, unknown to plain tqdm
            kwargs["disable"] = True  # the caller draws its own progress
            super().__init__(*args, **kwargs)
            self._done = kwargs.get("initial", 0) or 0
            progress(self._done, kwargs.get("total"))

        def update(self, n: float | None = 1) -> bool | None:
            self._done += int(n or 0)
            progress(self._done, self.total)
            return super().update(n)

    return _ForwardingTqdm


class _hub_errors:
    """Context manager turning huggingface_hub exceptions into DownloadError with advice for the user."""

    def __init__(self, ref: HubFile, token: str | None, endpoint: str | None, *, transferring: bool) -> None:
        self.ref, self.token, self.endpoint, self.transferring = ref, token, endpoint, transferring

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, error, tb) -> bool:
        if error is None or isinstance(error, (DownloadError, KeyboardInterrupt)) or not isinstance(error, Exception):
            return False
        if self.transferring and _is_network_error(error):
            mapped = _interrupted_hub_error(self.ref, error)
        else:
            mapped = _map_hub_error(self.ref, self.token, self.endpoint, error)
        if mapped is None:
            return False
        raise mapped from error


def _map_hub_error(ref: HubFile, token: str | None, endpoint: str | None, error: Exception) -> DownloadError | None:
    """huggingface_hub / httpx2 exception -> DownloadError saying what to check; None for unknown errors."""
    from huggingface_hub import errors

    repo_page = f"{(endpoint or 'https://huggingface.co').rstrip('/')}/{ref.repo_id}"
    if isinstance(error, errors.GatedRepoError):
        if token:
            return DownloadError(
                f"{ref.repo_id} is a gated repository and the token in HF_TOKEN has no access to it yet. Open "
                f"{repo_page} while logged in, accept its terms, wait for access, then run the command again."
            )
        return DownloadError(
            f"{ref.repo_id} is a gated repository: it needs you to accept its terms and to send an access token. "
            f"Open {repo_page} while logged in and accept them, create a token at "
            f"https://huggingface.co/settings/tokens and set HF_TOKEN to it, then run the command again."
        )
    if isinstance(error, errors.RepositoryNotFoundError):
        return DownloadError(
            f"Repository {ref.repo_id} was not found on the Hugging Face Hub. Check its name (organisation/name, as in "
            f"the page's URL). If it is private or gated, set HF_TOKEN to an access token that can read it."
        )
    if isinstance(error, errors.RevisionNotFoundError):
        return DownloadError(f"Revision '{ref.revision}' does not exist in {ref.repo_id}. Check --revision (a branch, tag or commit) on {repo_page}.")
    if isinstance(error, errors.LocalEntryNotFoundError) or _is_network_error(error):
        return DownloadError(
            f"Could not download {ref.display} from {endpoint or 'https://huggingface.co'}: the connection failed "
            f"({error.__class__.__name__}). Check your internet connection (and HF_ENDPOINT if you set it), then run "
            f"the command again."
        )
    if isinstance(error, errors.EntryNotFoundError):
        return DownloadError(
            f"{ref.repo_id} has no file '{ref.filename}' at revision '{ref.revision or 'main'}'. Check the path "
            f"(including folders and upper/lower case) and the revision in the repository's 'Files' tab on {repo_page}."
        )
    if isinstance(error, errors.HfHubHTTPError):
        status = error.response.status_code if error.response is not None else None
        if status in (401, 403):
            return DownloadError(
                f"The Hugging Face Hub refused access to {ref.display} (HTTP {status}). The repository is private or "
                f"gated: set HF_TOKEN to an access token with read access (https://huggingface.co/settings/tokens)."
            )
        return DownloadError(f"Downloading {ref.display} failed: the Hub answered HTTP {status}. Try again later.")
    if isinstance(error, OSError) and "Consistency check failed" in str(error):
        return DownloadError(f"{ref.display} arrived with the wrong size (the connection was probably cut). Run the command again.")
    return None


def _interrupted_hub_error(ref: HubFile, error: Exception) -> DownloadError:
    """huggingface_hub resumed a few times itself, then gave up; it deletes its partial file when it does."""
    return DownloadError(
        f"The download of {ref.display} was interrupted ({error.__class__.__name__}) and could not be resumed after "
        f"several tries. Check your internet connection and run the same command again; for Hugging Face files "
        f"the download then starts over, as the interrupted part is not kept."
    )


def _is_network_error(error: Exception) -> bool:
    """Connection failures from huggingface_hub's HTTP client (httpx2), once its own retries are spent."""
    try:
        import httpx2
    except ImportError:  # older huggingface_hub used requests
        return isinstance(error, (ConnectionError, TimeoutError))
    return isinstance(error, (httpx2.TransportError, ConnectionError, TimeoutError))


__all__ = [
    "DownloadError",
    "HubFile",
    "Progress",
    "download_hub_file",
    "download_url",
    "parse_hub_reference",
]
