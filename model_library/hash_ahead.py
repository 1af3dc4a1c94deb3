"""Model files hashed in the background as soon as a workflow loads them, so that saving an image never reads one.

SaveImage writes A1111's "Model hash" and "Lora hashes"; the sha256 of a multi-GB checkpoint takes seconds to read,
which would land on the save path of every new file. The loader nodes call `hash_ahead` once they have read a file:
a daemon thread (at a lower CPU priority where the system allows, so sampling keeps its cores) hashes it from the
page cache the load just filled and stores the result in the installation's hash database. `file_hashes`, used by
the save path, answers from that database, waits for a hash still being computed rather than reading the file a
second time, and computes it itself only for a file nobody hashed ahead.

Jobs are keyed by the database, the file's real path and its identity, so two installations in one process never
share one, and a file replaced since it was loaded is hashed again.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from concurrent.futures import Future
from pathlib import Path

from graph_engine import Folders

from .hashes import HASH_DATABASE, FileHashes, HashCache, file_version_key, open_hash_cache

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 10  # added to the hashing thread's niceness (Linux schedules threads on their own)

JobKey = tuple[str, str, str]  # (hash database, real path, file identity)

_jobs: dict[JobKey, Future] = {}  # hashes being computed in this process: work in flight, not installation state
_jobs_lock = threading.Lock()


def hash_ahead(folders: Folders, path: str | Path) -> None:
    """Start hashing `path` into the hash database of `folders` unless it is known or already being hashed."""
    try:
        key = _job_key(folders, path)
    except OSError:
        return  # gone already: the save path names the problem if it still needs the file
    with _jobs_lock:
        if key in _jobs:
            return
        job: Future = Future()
        _jobs[key] = job
    threading.Thread(target=_hash_job, args=(folders, key, job), name="latentloom-model-hash", daemon=True).start()


def file_hashes(folders: Folders, hashes: HashCache, path: str | Path) -> FileHashes:
    """The file's hashes from `hashes` (the database of `folders`), waiting for a job hashing it ahead rather than
    reading it again; OSError when the file cannot be read."""
    job = _jobs.get(_job_key(folders, path))
    if job is not None:
        found = job.result()
        if found is not None:
            return found
    return hashes.hashes(path)


def _job_key(folders: Folders, path: str | Path) -> JobKey:
    return (str(folders.user / HASH_DATABASE), *file_version_key(path))


def _hash_job(folders: Folders, key: JobKey, job: Future) -> None:
    """Hash one file; the job's result is its hashes, or None when it could not be read (the caller tries itself)."""
    _lower_priority()
    result = None
    try:
        with open_hash_cache(folders) as hashes:
            result = hashes.hashes(key[1])
        log.debug("hashed %s ahead of its first save", key[1])
    except Exception as error:  # unreadable or removed: the save path retries and warns with the reason
        log.debug("could not hash %s ahead: %s", key[1], error)
    finally:
        job.set_result(result)
        with _jobs_lock:
            _jobs.pop(key, None)


def _lower_priority() -> None:
    """Lower this thread's CPU priority (on Linux, where setpriority on a thread id affects that thread only)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        thread_id = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread_id, os.getpriority(os.PRIO_PROCESS, thread_id) + BACKGROUND_NICENESS)
    except (AttributeError, OSError):
        pass  # not offered here: the hash runs at normal priority
