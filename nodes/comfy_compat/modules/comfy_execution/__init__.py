"""ComfyUI's `comfy_execution` package for plugins: graph_utils (GraphBuilder, for nodes that expand into a graph)
and graph (DynamicPrompt), over Latentloom's graph expansion."""
from nodes.comfy_compat.not_offered import package_attributes

SUBMODULES = ("graph", "graph_utils")

__getattr__ = package_attributes(__name__, SUBMODULES)
