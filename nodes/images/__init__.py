"""Image I/O nodes with ComfyUI's names: SaveImage, PreviewImage and LoadImage.

torch, numpy and Pillow load only when a node runs. Their folders are the installation's that the engine makes
current (`graph_engine.current_folders()`): LoadImage lists, checks and reads the same input folder, SaveImage checks
its prefix against and writes into the same output folder.
"""
from ..node_groups import gather
from . import load, save

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(save, load)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
