"""ComfyUI's comfy_extras.nodes_torch_compile: TorchCompileModel."""
from __future__ import annotations

from typing import Any

PYTHON_MODULE = "comfy_extras.nodes_torch_compile"


class TorchCompileModel:
    CATEGORY = "experimental"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    EXPERIMENTAL = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {}),
                             "backend": (["inductor", "cudagraphs"], {"advanced": True})}}

    def patch(self, model: Any, backend: str):
        """The UNet's forward compiled by torch.compile with `backend` when this MODEL samples (the first step pays
        for the compilation)."""
        from nodes.runtime.models.compiled_unet import set_torch_compile_wrapper

        patched = model.clone()
        set_torch_compile_wrapper(patched, backend)
        return (patched,)


NODE_CLASS_MAPPINGS = {"TorchCompileModel": TorchCompileModel}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
