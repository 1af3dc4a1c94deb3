"""The application: command line, options and the start-up wiring of engine, built-in nodes and plugins.

`from latentloom import Workflow` is the Python API; it is imported on first use so `import latentloom` stays light.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type checkers and IDEs see the real names
    from .python_api import NodeHandle, Output, Workflow, WorkflowFailed, WorkflowInvalid, WorkflowResult

_PYTHON_API = ("NodeHandle", "Output", "Workflow", "WorkflowFailed", "WorkflowInvalid", "WorkflowResult")
__all__ = list(_PYTHON_API)


def __getattr__(name: str) -> Any:
    if name in _PYTHON_API:
        from . import python_api

        return getattr(python_api, name)
    raise AttributeError(f"module 'latentloom' has no attribute {name!r}")
