"""ComfyUI's `comfy_execution.graph` for plugins: DynamicPrompt, the growing workflow nodes asking for the hidden
DYNPROMPT input get, and ExecutionBlocker, which stops the nodes downstream of an output (Latentloom's engine's own).
"""
from graph_engine import DynamicPrompt, ExecutionBlocker
from nodes.comfy_compat.not_offered import attribute_not_offered

__all__ = ["DynamicPrompt", "ExecutionBlocker"]

__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
