"""ComfyUI's model-patching nodes: each returns a clone of its MODEL with sampler patches set (runtime/models/patching.py),
the surface plugins use too."""
from ..node_groups import gather
from . import (apg, cfg_override, cfg_variants, differential_diffusion, eps, freelunch, hypertile, latent_operation_cfg,
               model_advanced, model_downscale, pag, perpneg, sag, tomesd, torch_compile)

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(
    model_advanced, cfg_variants, eps, apg, latent_operation_cfg, differential_diffusion, perpneg,
    cfg_override, torch_compile, freelunch, model_downscale, hypertile, tomesd, pag, sag)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
