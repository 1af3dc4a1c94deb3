"""The Python API: build graphs in code with typed outputs, run them here or on a server."""
from .failures import WorkflowFailed, WorkflowInvalid
from .handles import NodeHandle, Output
from .results import WorkflowResult
from .workflow import Workflow

__all__ = ["NodeHandle", "Output", "Workflow", "WorkflowFailed", "WorkflowInvalid", "WorkflowResult"]
