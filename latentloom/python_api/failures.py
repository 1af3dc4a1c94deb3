"""The exceptions of the Python API: the engine's WorkflowInvalid for a refused graph (also when a server refused
it), WorkflowFailed for a run that stopped at a node."""
from __future__ import annotations

from typing import Any

from graph_engine import InputError, NodeErrors, PromptError, ValidationReport, WorkflowInvalid

__all__ = ["WorkflowFailed", "WorkflowInvalid", "invalid_from_json"]


class WorkflowFailed(RuntimeError):
    """A run that ended with a node's error (or was interrupted); `error` is the execution_error data."""

    def __init__(self, prompt_id: str, status: str, error: dict[str, Any] | None) -> None:
        self.prompt_id, self.status, self.error = prompt_id, status, error
        if error is None:
            message = f"prompt {prompt_id} was {status}"
        else:
            message = (f"node {error.get('node_id')} ({error.get('node_type')}) failed: "
                       f"{error.get('exception_type')}: {error.get('exception_message')}")
        super().__init__(message)


def _input_error(data: dict[str, Any]) -> InputError:
    extra = dict(data.get("extra_info") or {})
    input_name = extra.pop("input_name", None)
    return InputError(data.get("type", ""), data.get("message", ""), data.get("details", ""), input_name, extra)


def invalid_from_json(body: dict[str, Any]) -> WorkflowInvalid:
    """WorkflowInvalid from a /prompt 400 body, so a server's refusal reads like a local one (`report.lines()`,
    `report.to_json()`)."""
    report = ValidationReport()
    error = body.get("error")
    if isinstance(error, dict):
        report.error = PromptError(error.get("type", ""), error.get("message", ""), error.get("details", ""))
    for node_id, node in (body.get("node_errors") or {}).items():
        report.node_errors[node_id] = NodeErrors(node_id, node.get("class_type"),
                                                 [_input_error(e) for e in node.get("errors", [])],
                                                 list(node.get("dependent_outputs", [])))
    return WorkflowInvalid(report)
