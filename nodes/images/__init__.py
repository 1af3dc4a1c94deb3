"""Image I/O nodes with ComfyUI's names: SaveImage, PreviewImage and LoadImage.

torch, numpy and Pillow load only when a node runs. Their folders are the installation's that the engine makes
current (`graph_engine.current_folders()`): LoadImage lists, checks and reads the same input folder, SaveImage checks
its prefix against and writes into the same output folder.
"""
from .load import LoadImage
from .save import PreviewImage, SaveImage

NODE_CLASS_MAPPINGS = {"SaveImage": SaveImage, "PreviewImage": PreviewImage, "LoadImage": LoadImage}
NODE_DISPLAY_NAME_MAPPINGS = {"SaveImage": "Save Image", "PreviewImage": "Preview Image", "LoadImage": "Load Image"}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
