"""ComfyUI's comfy_extras.nodes_controlnet: the union ControlNet type and the AliMama inpainting apply node."""
from __future__ import annotations

from .controlnet_nodes import STRENGTH, ControlNetApplyAdvanced, require_control

PYTHON_MODULE = "comfy_extras.nodes_controlnet"
# ControlNet++ (union) task numbers, in the order its task embedding was trained
UNION_CONTROLNET_TYPES = {"openpose": 0, "depth": 1, "hed/pidi/scribble/ted": 2,
                          "canny/lineart/anime_lineart/mlsd": 3, "normal": 4, "segment": 5, "tile": 6, "repaint": 7}


class SetUnionControlNetType:
    CATEGORY = "model/conditioning/controlnet"
    RETURN_TYPES = ("CONTROL_NET",)
    FUNCTION = "set_controlnet_type"
    DESCRIPTION = "Sets which control type a union ControlNet should follow ('auto' lets it tell from the image)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"control_net": ("CONTROL_NET", {}),
                             "type": (["auto", *UNION_CONTROLNET_TYPES], {})}}

    def set_controlnet_type(self, control_net, type: str):  # noqa: A002 (ComfyUI's input name)
        require_control(control_net)
        control = control_net.copy()
        number = UNION_CONTROLNET_TYPES.get(type)
        control.set_extra_arg("control_type", [] if number is None else [number])
        return (control,)


class ControlNetInpaintingAliMamaApply:
    CATEGORY = "model/conditioning/controlnet"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING")
    RETURN_NAMES = ("positive", "negative")
    FUNCTION = "apply_inpaint_controlnet"
    DESCRIPTION = ("Applies an inpainting ControlNet: ControlNets that read the mask get the image with the masked "
                   "part blacked out and the mask beside it; others are applied as with Apply ControlNet.")

    @classmethod
    def INPUT_TYPES(cls):
        percent = {"min": 0.0, "max": 1.0, "step": 0.001, "advanced": True}
        return {"required": {"positive": ("CONDITIONING", {}), "negative": ("CONDITIONING", {}),
                             "control_net": ("CONTROL_NET", {}), "vae": ("VAE", {}), "image": ("IMAGE", {}),
                             "mask": ("MASK", {}), "strength": STRENGTH,
                             "start_percent": ("FLOAT", {"default": 0.0, **percent}),
                             "end_percent": ("FLOAT", {"default": 1.0, **percent})}}

    def apply_inpaint_controlnet(self, positive, negative, control_net, vae, image, mask, strength: float,
                                 start_percent: float, end_percent: float):
        extra_concat = []
        if getattr(control_net, "concat_mask", False):
            from nodes.latent.resize import resize

            keep = 1.0 - mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1])
            keep_pixels = resize(keep, image.shape[2], image.shape[1], "bilinear", "center").round()
            image = image * keep_pixels.movedim(1, -1).expand(-1, -1, -1, image.shape[3])
            extra_concat = [keep]
        return ControlNetApplyAdvanced().apply_controlnet(positive, negative, control_net, image, strength,
                                                          start_percent, end_percent, vae=vae,
                                                          extra_concat=extra_concat)


NODE_CLASS_MAPPINGS = {"SetUnionControlNetType": SetUnionControlNetType,
                       "ControlNetInpaintingAliMamaApply": ControlNetInpaintingAliMamaApply}
NODE_DISPLAY_NAME_MAPPINGS = {"SetUnionControlNetType": "Set Union ControlNet Type",
                              "ControlNetInpaintingAliMamaApply": "Apply ControlNet Inpainting (AliMama)"}
