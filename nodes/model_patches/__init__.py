"""ComfyUI's model-patching nodes: each returns a clone of its MODEL with sampler patches set (runtime/models/patching.py),
the surface plugins use too."""
from ..node_groups import gather
from . import cfg_variants, freelunch, hypertile, model_advanced, model_downscale, pag, sag, tomesd

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(
    model_advanced, cfg_variants, freelunch, model_downscale, hypertile, tomesd, pag, sag)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
