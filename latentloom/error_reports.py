"""How the command line tells what went wrong, without burying the useful sentence under a traceback.

Errors raised on purpose for the user (`graph_engine.UserFacingError`: a bad model file, a wrong base...) are one
line: their message says what happened and what to do. Anything else is a bug somewhere: one line naming it, and
its traceback in a file under `user/logs/` (named in the line), or on stderr with --verbose.
"""
from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from graph_engine import RunError

LOGS_FOLDER = "logs"


def traceback_note(text: str, user_folder: Path, verbose: bool) -> str:
    """With `verbose`, print the traceback `text` and return ''; else write it to a new log file and return a
    note naming that file, for the end of the error line."""
    if verbose:
        print(text, file=sys.stderr, end="" if text.endswith("\n") else "\n")
        return ""
    folder = Path(user_folder) / LOGS_FOLDER
    path = folder / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:  # e.g. the disk is full: the line must still come out
        return f" (the traceback could not be saved in {folder}: {error.strerror or error}; --verbose prints it)"
    return f" (traceback in {path})"


def report_node_failure(error: RunError, user_facing: bool, user_folder: Path, verbose: bool) -> None:
    """One `error:` line for a run's error; the traceback of a bug goes to a log file."""
    where = f"node {error.node_id} ({error.node_type}) failed"
    message, type_path = error.exception_message, error.exception_type
    text = f"{where}\nTraceback (most recent call last):\n{''.join(error.traceback)}{type_path}: {message}\n"
    if user_facing:
        if verbose:
            print(text, file=sys.stderr, end="")
        print(f"error: {where}: {message}", file=sys.stderr)
        return
    kind = type_path.rsplit(".", 1)[-1]
    print(f"error: {where} with an unexpected {kind}: {message}{traceback_note(text, user_folder, verbose)}",
          file=sys.stderr)


def report_unexpected(command: str, error: BaseException, user_folder: Path, verbose: bool) -> None:
    """One `error:` line for an exception that escaped a command; its traceback goes to a log file."""
    text = f"latentloom {command}\n" + "".join(traceback.format_exception(error))
    print(f"error: latentloom {command} failed with an unexpected {type(error).__name__}: {error}"
          f"{traceback_note(text, user_folder, verbose)}", file=sys.stderr)


def os_error_line(error: OSError) -> str:
    """'Permission denied: /x/models' rather than "[Errno 13] Permission denied: '/x/models'"."""
    if error.strerror and error.filename is not None:
        return f"{error.strerror}: {error.filename}"
    return error.strerror or str(error)


def stdout_is_closed() -> bool:
    """Whether stdout's reader has gone (`latentloom nodes | head`), rather than some other pipe or socket: a pipe
    without a reader polls as an error."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() (Windows), or stdout is no file: take it as closed
        return True


def silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush does not complain about the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@contextlib.contextmanager
def node_failures_reported_here() -> Iterator[None]:
    """The engine logs a node's failure (a bug's with its traceback) for servers and scripts; `latentloom run`
    reports it itself with `report_node_failure`, so the engine's error records are held back meanwhile."""
    engine_log = logging.getLogger("graph_engine.executor")

    def below_error(record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR

    engine_log.addFilter(below_error)
    try:
        yield
    finally:
        engine_log.removeFilter(below_error)
