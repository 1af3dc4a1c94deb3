"""ComfyUI's `comfy_execution.graph` for plugins: DynamicPrompt, the growing workflow nodes asking for the hidden
DYNPROMPT input get (Latentloom's engine's own).

ExecutionBlocker is not offered: Latentloom's engine cannot block the nodes downstream of a value yet; a plugin
importing it is told so when it loads.
"""
from graph_engine import DynamicPrompt
from nodes.comfy_compat.not_offered import attribute_not_offered

__all__ = ["DynamicPrompt"]

__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
