"""ComfyUI's ControlNet nodes of its core module: load ControlNets and T2I-Adapters (models/controlnet, also
models/t2i_adapter), and apply them to conditioning, where the sampler asks them for residuals at each step."""
from __future__ import annotations

from graph_engine import InvalidNodeInput, current_folders
from model_library.folders import find_model, list_models, model_file_state
from nodes.runtime.model_hints import model_folder_hint

PYTHON_MODULE = "nodes"
FOLDER = "controlnet"
STRENGTH = ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01})
PERCENT = {"min": 0.0, "max": 1.0, "step": 0.001}


class ControlNetLoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("CONTROL_NET",)
    FUNCTION = "load_controlnet"
    DESCRIPTION = ("Loads a ControlNet (SD1.x, SD2.x or SDXL; original or diffusers layout), a control-LoRA or a "
                   "T2I-Adapter from models/controlnet (or models/t2i_adapter).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"control_net_name": (list_models(current_folders(), FOLDER),)}}

    def load_controlnet(self, control_net_name: str):
        from nodes.runtime.controlnet import load_control_model

        return (load_control_model(find_model(current_folders(), FOLDER, control_net_name)),)

    @classmethod
    def IS_CHANGED(cls, control_net_name: str, **_):
        return model_file_state(current_folders(), FOLDER, control_net_name)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), FOLDER)


class DiffControlNetLoader(ControlNetLoader):
    DESCRIPTION = ("Loads a ControlNet for the given model; a diff ControlNet's weights are added to the model's own "
                   "UNet weights (with its LoRAs), other ControlNets load as with Load ControlNet Model.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",),
                             "control_net_name": (list_models(current_folders(), FOLDER),)}}

    def load_controlnet(self, model, control_net_name: str):
        from nodes.runtime.controlnet import load_control_model

        return (load_control_model(find_model(current_folders(), FOLDER, control_net_name), model),)


def require_control(control_net) -> None:
    if not (hasattr(control_net, "copy") and hasattr(control_net, "set_cond_hint")):
        raise InvalidNodeInput(f"control_net must come from Load ControlNet Model (ControlNetLoader), not "
                               f"{type(control_net).__name__}.")


def hint_image(control_net, image):
    """The image as a [B, C, H, W] hint, after checking the control and the image's channels fit together."""
    require_control(control_net)
    wanted = getattr(control_net, "hint_channels", None)
    if wanted is not None and image.shape[-1] != wanted:
        raise InvalidNodeInput(f"image has {image.shape[-1]} channels but {control_net.source} reads {wanted}: "
                               f"convert the image first (e.g. drop the alpha channel).")
    return image.movedim(-1, 1)


class ControlNetApply:
    CATEGORY = "model/conditioning/controlnet"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "apply_controlnet"
    DEPRECATED = True
    DESCRIPTION = ("Applies a ControlNet to every entry of the conditioning for the whole of sampling; the sampler "
                   "applies it to the negative prompt too.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",), "control_net": ("CONTROL_NET",),
                             "image": ("IMAGE",), "strength": STRENGTH}}

    def apply_controlnet(self, conditioning, control_net, image, strength: float):
        if strength == 0:
            return (conditioning,)
        hint = hint_image(control_net, image)
        applied = []
        for tensor, options in conditioning:
            options = dict(options)
            control = control_net.copy().set_cond_hint(hint, strength)
            if "control" in options:
                control.set_previous_controlnet(options["control"])
            options["control"] = control
            options["control_apply_to_uncond"] = True
            applied.append([tensor, options])
        return (applied,)


class ControlNetApplyAdvanced:
    CATEGORY = "model/conditioning/controlnet"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING")
    RETURN_NAMES = ("positive", "negative")
    FUNCTION = "apply_controlnet"
    DESCRIPTION = ("Applies a ControlNet or T2I-Adapter to the positive and negative conditioning between two points "
                   "of sampling; a control already on an entry is kept, and the residuals of both are summed.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"positive": ("CONDITIONING",), "negative": ("CONDITIONING",),
                             "control_net": ("CONTROL_NET",), "image": ("IMAGE",), "strength": STRENGTH,
                             "start_percent": ("FLOAT", {"default": 0.0, **PERCENT}),
                             "end_percent": ("FLOAT", {"default": 1.0, **PERCENT})},
                "optional": {"vae": ("VAE",)}}

    def apply_controlnet(self, positive, negative, control_net, image, strength: float, start_percent: float,
                         end_percent: float, vae=None, extra_concat=None):
        if strength == 0:
            return (positive, negative)
        hint = hint_image(control_net, image)
        by_previous: dict[int, object] = {}  # entries that had the same control share the new one (batched together)
        outputs = []
        for conditioning in (positive, negative):
            applied = []
            for tensor, options in conditioning:
                options = dict(options)
                previous = options.get("control")
                control = by_previous.get(id(previous))
                if control is None:
                    control = control_net.copy().set_cond_hint(hint, strength, (start_percent, end_percent), vae=vae,
                                                               extra_concat=extra_concat or [])
                    control.set_previous_controlnet(previous)
                    by_previous[id(previous)] = control
                options["control"] = control
                options["control_apply_to_uncond"] = False
                applied.append([tensor, options])
            outputs.append(applied)
        return (outputs[0], outputs[1])


NODE_CLASS_MAPPINGS = {"ControlNetLoader": ControlNetLoader, "DiffControlNetLoader": DiffControlNetLoader,
                       "ControlNetApply": ControlNetApply, "ControlNetApplyAdvanced": ControlNetApplyAdvanced}
NODE_DISPLAY_NAME_MAPPINGS = {"ControlNetLoader": "Load ControlNet Model",
                              "DiffControlNetLoader": "Load ControlNet Model (diff)",
                              "ControlNetApply": "Apply ControlNet (DEPRECATED)",
                              "ControlNetApplyAdvanced": "Apply ControlNet"}
