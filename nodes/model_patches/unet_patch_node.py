"""What ComfyUI's UNet-patching nodes share: a MODEL in, a clone with patches set out (`patch`)."""


class UNetPatchNode:
    CATEGORY = "model/patch/unet"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
