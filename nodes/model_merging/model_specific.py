"""ComfyUI's per-block merges for SD1.x, SD2.x and SDXL: ModelMergeBlocks with one ratio per original-layout block."""
from __future__ import annotations

from .merge_nodes import RATIO, ModelMergeBlocks

PYTHON_MODULE = "comfy_extras.nodes_model_merging_model_specific"


def block_inputs(input_blocks: int, output_blocks: int, separator: str) -> dict:
    """model1, model2, then a ratio per block name in ComfyUI's order (its SDXL names end without the dot)."""
    names = ["time_embed.", "label_emb."]
    names += [f"input_blocks.{i}{separator}" for i in range(input_blocks)]
    names += [f"middle_block.{i}{separator}" for i in range(3)]
    names += [f"output_blocks.{i}{separator}" for i in range(output_blocks)]
    names.append("out.")
    return {"required": {"model1": ("MODEL",), "model2": ("MODEL",), **{name: RATIO for name in names}}}


class ModelMergeSD1(ModelMergeBlocks):
    CATEGORY = "model/merging/model specific"

    @classmethod
    def INPUT_TYPES(cls):
        return block_inputs(12, 12, ".")


class ModelMergeSD2(ModelMergeSD1):
    """The same blocks as SD1.x."""


class ModelMergeSDXL(ModelMergeBlocks):
    CATEGORY = "model/merging/model specific"

    @classmethod
    def INPUT_TYPES(cls):
        return block_inputs(9, 9, "")


NODE_CLASS_MAPPINGS = {"ModelMergeSD1": ModelMergeSD1, "ModelMergeSD2": ModelMergeSD2, "ModelMergeSDXL": ModelMergeSDXL}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
