"""An example node plugin: copy this folder to start your own.

A plugin is a package (or a single .py file) in custom_nodes/ that exports
NODE_CLASS_MAPPINGS (node name -> class) and, optionally,
NODE_DISPLAY_NAME_MAPPINGS (node name -> label) and WEB_DIRECTORY.
Each class follows ComfyUI's classic node interface: INPUT_TYPES,
RETURN_TYPES, FUNCTION, CATEGORY, and optionally OUTPUT_IS_LIST,
INPUT_IS_LIST, OUTPUT_NODE, IS_CHANGED and VALIDATE_INPUTS.
"""
from .words import ExampleJoinWords, ExampleRepeatText, ExampleSplitWords

NODE_CLASS_MAPPINGS = {
    "ExampleRepeatText": ExampleRepeatText,
    "ExampleSplitWords": ExampleSplitWords,
    "ExampleJoinWords": ExampleJoinWords,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "ExampleRepeatText": "Repeat Text (example)",
    "ExampleSplitWords": "Split Words (example)",
    "ExampleJoinWords": "Join Words (example)",
}
