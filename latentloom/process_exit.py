"""Ending the `latentloom` process without Python's teardown of every module's objects.

Once torch is loaded that teardown takes about half a second of a small machine's CPU, after all the work is done:
a cost every `latentloom run` paid on top of its run (issue 18). Everything else Python's own exit does still happens,
in the same order: the program's threads are waited for, the atexit callbacks run (logging's flush and close among
them, temporary directories, Ray), and the standard streams are flushed.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def exit_without_teardown(code: int) -> NoReturn:
    """End the process with `code` once its threads, exit callbacks and buffered output are done."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # what the interpreter's exit runs (the module offers no public name for it)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`latentloom nodes | head`) or a closed stream: nothing to keep
            pass
    os._exit(code)
