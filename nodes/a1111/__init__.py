"""AUTOMATIC1111's image metadata: the `parameters` text written beside saved images, and read back as a workflow."""
from .infotext_reader import Infotext, LoraTag, parse_infotext
from .infotext_writer import parameters_for_image
from .workflow_builder import prompt_from_infotext, prompt_from_parameters

__all__ = ["Infotext", "LoraTag", "parameters_for_image", "parse_infotext", "prompt_from_infotext",
           "prompt_from_parameters"]
