"""Validation errors as data, and their ComfyUI JSON form."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
