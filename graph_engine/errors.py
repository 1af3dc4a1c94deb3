"""Validation and run errors as data, and their ComfyUI JSON form."""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from .events import now_ms


@dataclass(frozen=True)
class InputError:
    """One problem with one node (and usually one of its inputs)."""

    type: str
    message: str
    details: str = ""
    input_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        extra = dict(self.extra)
        if self.input_name is not None:
            extra["input_name"] = self.input_name
        return {"type": self.type, "message": self.message, "details": self.details, "extra_info": extra}


@dataclass
class NodeErrors:
    """All problems of one node, and the output nodes it keeps from running."""

    node_id: str
    class_type: Any
    errors: list[InputError] = field(default_factory=list)
    dependent_outputs: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "errors": [e.to_json() for e in self.errors],
            "dependent_outputs": list(self.dependent_outputs),
            "class_type": self.class_type,
        }

    def lines(self) -> list[str]:
        """One readable line per error, for the CLI and the log."""
        lines = []
        for e in self.errors:
            where = f"node {self.node_id}" + (f" ({self.class_type})" if self.class_type else "")
            if e.input_name is not None:
                where += f" input '{e.input_name}'"
            lines.append(f"{where}: {e.message}" + (f" [{e.details}]" if e.details else ""))
        return lines


@dataclass(frozen=True)
class PromptError:
    """The top-level error of a refused workflow."""

    type: str
    message: str
    details: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "details": self.details, "extra_info": dict(self.extra)}


@dataclass(frozen=True)
class RunError:
    """Why a queued or running prompt ended in an error: the node that failed (None when none did) and the
    exception. Its JSON is ComfyUI's execution_error message, the one form clients, the history and the CLI read."""

    prompt_id: str
    exception_message: str
    exception_type: str
    node_id: str | None = None
    node_type: str | None = None
    executed: list[str] = field(default_factory=list)  # nodes that ran before the failure
    traceback: list[str] = field(default_factory=list)
    current_inputs: dict[str, list[str]] = field(default_factory=dict)  # the failed node's inputs, as short reprs
    current_outputs: list[str] = field(default_factory=list)  # output nodes that had finished
    timestamp: int = field(default_factory=now_ms)

    @classmethod
    def from_exception(cls, prompt_id: str, exc: BaseException, **where: Any) -> RunError:
        """The record of `exc`, with its traceback and its type named as ComfyUI does (module path unless builtin);
        `where` gives the node fields."""
        return cls(prompt_id, str(exc), exception_type_name(exc), traceback=traceback.format_tb(exc.__traceback__),
                   **where)

    def to_json(self) -> dict[str, Any]:
        """The execution_error message's data, its fields in ComfyUI's order."""
        return {"prompt_id": self.prompt_id, "node_id": self.node_id, "node_type": self.node_type,
                "executed": list(self.executed), "exception_message": self.exception_message,
                "exception_type": self.exception_type, "traceback": list(self.traceback),
                "current_inputs": dict(self.current_inputs), "current_outputs": list(self.current_outputs),
                "timestamp": self.timestamp}


def exception_type_name(exc: BaseException) -> str:
    """'ValueError' for a builtin exception, else 'module.path.Name', as ComfyUI's execution_error names it."""
    module = type(exc).__module__
    return type(exc).__qualname__ if module == "builtins" else f"{module}.{type(exc).__qualname__}"


class UserFacingError(Exception):
    """Base of the errors raised on purpose for the user (a bad model file, a wrong base, a file that is missing):
    the message alone says what happened, to which file, and what to do, so reports show it without a traceback.
    Any other exception escaping a node is taken for a bug and keeps its traceback."""


class InvalidNodeInput(UserFacingError, ValueError):
    """A value a node cannot work with (a latent of the wrong model, an image of the wrong shape); the message says
    what the node needs and where such a value comes from."""


class MissingFile(UserFacingError, FileNotFoundError):
    """A file a node input names is not there (removed or renamed since the workflow was checked)."""


class WorkflowFormatError(ValueError):
    """A file or value that is not a workflow we can read."""


class WorkflowInvalid(Exception):
    """Raised by the engine for a workflow that failed validation; carries the whole report."""

    def __init__(self, report: Any) -> None:
        self.report = report
        super().__init__("\n".join(report.lines()))
