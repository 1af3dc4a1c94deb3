"""ComfyUI's model merging, attention-multiply, model saving, LoRA extraction and bypass-LoRA nodes, over the
weight-patch surface of MODEL and CLIP (runtime/models/weight_patches.py) and its view stack (runtime/lora/views.py)."""
from ..node_groups import gather
from . import attention_multiply, lora_bypass, lora_extract, merge_nodes, model_specific, save_nodes

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(
    merge_nodes, save_nodes, model_specific, attention_multiply, lora_extract, lora_bypass)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
