"""Image I/O nodes with ComfyUI's names: SaveImage, PreviewImage and LoadImage.

torch, numpy and Pillow load only when a node runs. The app calls `set_input_folder(folders.input)` and
`set_output_folder(folders.output)` at start-up so that LoadImage can list and check files, and SaveImage
check its prefix, before any run (default: ./input).
"""
from .input_folder import get_input_folder, set_input_folder, set_output_folder
from .load import LoadImage
from .save import PreviewImage, SaveImage

NODE_CLASS_MAPPINGS = {"SaveImage": SaveImage, "PreviewImage": PreviewImage, "LoadImage": LoadImage}
NODE_DISPLAY_NAME_MAPPINGS = {"SaveImage": "Save Image", "PreviewImage": "Preview Image", "LoadImage": "Load Image"}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "get_input_folder", "set_input_folder", "set_output_folder"]
