"""The generic typed-DAG engine: node specs, plugins, validation, planning, execution and caching (no torch)."""
from .blocking import ExecutionBlocker
from .cache import (CacheEntry, CachePolicy, CacheReport, CacheStats, LRUCache, NoCache,
                    ResultOrigin)
from .calling import NodeOutputError, NodeResult
from .context import Interrupted, NodeContext, NoFoldersError, current_context, current_folders, using_folders
from .engine import Engine
from .errors import (InputError, InvalidNodeInput, MissingFile, NodeErrors, PromptError, RunError, UserFacingError,
                     WorkflowFormatError, WorkflowInvalid)
from .estimate import InputTooLarge, NodeEstimate, ValueSize
from .events import EventStream
from .expansion import MAX_EXPANDED_NODES, MAX_EXPANSION_DEPTH, DynamicPrompt, ExpansionError
from .executor import RunResult
from .folders import Folders, ModelRoot
from .plugins import PluginReport, discover_plugins, load_plugins
from .registry import DuplicateNodeError, NodeRegistry, RegistrationReport
from .sizing import Sizer
from .specs import InputSpec, NodeInterfaceError, NodeSpec, OutputSpec
from .ui_format import UIConversionError, ui_to_api
from .ui_layout import api_to_ui
from .validate import ValidationReport, validate_prompt
from .workflow import Prompt, read_workflow_file, to_api_format

__all__ = [
    "CacheEntry", "CachePolicy", "CacheReport", "CacheStats", "ResultOrigin",
    "DuplicateNodeError", "DynamicPrompt", "Engine", "EventStream", "ExpansionError",
    "ExecutionBlocker", "Folders", "InputError", "InputSpec",
    "InputTooLarge", "Interrupted", "InvalidNodeInput", "LRUCache", "MissingFile", "NoCache", "NodeContext",
    "NodeErrors", "NodeEstimate", "NodeInterfaceError", "NodeOutputError", "NodeRegistry", "NodeResult", "NodeSpec",
    "OutputSpec", "PluginReport", "Prompt", "PromptError", "RegistrationReport", "RunError", "RunResult", "Sizer",
    "UIConversionError", "UserFacingError", "ValidationReport", "ValueSize", "WorkflowFormatError", "WorkflowInvalid",
    "api_to_ui", "current_context", "discover_plugins", "load_plugins", "read_workflow_file", "to_api_format",
    "ui_to_api", "validate_prompt",
    "ModelRoot", "NoFoldersError", "current_folders", "using_folders",
    "MAX_EXPANDED_NODES", "MAX_EXPANSION_DEPTH",
]
