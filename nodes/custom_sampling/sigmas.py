"""SIGMAS tools of ComfyUI's comfy_extras.nodes_custom_sampler: split, flip, edit, extend and write sigma lists."""
from __future__ import annotations

import math
import re

from graph_engine import InvalidNodeInput

from .wires import model_input, sigmas_input

PYTHON_MODULE = "comfy_extras.nodes_custom_sampler"
CATEGORY = "model/sampling/sigmas"
NUMBER = re.compile(r"[-+]?\d*\.?\d+")


class SplitSigmas:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("SIGMAS", "SIGMAS")
    RETURN_NAMES = ("high_sigmas", "low_sigmas")
    FUNCTION = "get_sigmas"
    DESCRIPTION = "Splits the sigmas at a step: the steps before it, and the steps from it (both keep that sigma)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"sigmas": ("SIGMAS",), "step": ("INT", {"default": 0, "min": 0, "max": 10000})}}

    def get_sigmas(self, sigmas, step: int):
        sigmas = sigmas_input(sigmas)
        return sigmas[:step + 1], sigmas[step:]


class SplitSigmasDenoise:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("SIGMAS", "SIGMAS")
    RETURN_NAMES = ("high_sigmas", "low_sigmas")
    FUNCTION = "get_sigmas"
    DESCRIPTION = "Splits the sigmas so that the low part is the last `denoise` fraction of the steps."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"sigmas": ("SIGMAS",),
                             "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01})}}

    def get_sigmas(self, sigmas, denoise: float):
        sigmas = sigmas_input(sigmas)
        low_steps = round(max(len(sigmas) - 1, 0) * denoise)
        # As ComfyUI slices: with no low steps the high part is empty too ([:-0]).
        return sigmas[:-low_steps] if low_steps else sigmas[:0], sigmas[-(low_steps + 1):]


class FlipSigmas:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "get_sigmas"
    DESCRIPTION = "Reverses the sigmas (for unsampling: from the image back to noise); a first 0 becomes 0.0001."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"sigmas": ("SIGMAS",)}}

    def get_sigmas(self, sigmas):
        sigmas = sigmas_input(sigmas)
        if len(sigmas) == 0:
            return (sigmas,)
        flipped = sigmas.flip(0)
        if flipped[0] == 0:
            flipped[0] = 0.0001
        return (flipped,)


class SetFirstSigma:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "set_first_sigma"
    DESCRIPTION = "Replaces the first sigma."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"sigmas": ("SIGMAS",), "sigma": ("FLOAT", {"default": 136.0, "min": 0.0, "max": 20000.0,
                                                                        "step": 0.001, "round": False})}}

    def set_first_sigma(self, sigmas, sigma: float):
        sigmas = sigmas_input(sigmas).clone()
        if len(sigmas) == 0:
            raise InvalidNodeInput("sigmas is empty: there is no first sigma to set")
        sigmas[0] = sigma
        return (sigmas,)


def _spacing(name: str, x):
    import torch

    if name == "cosine":
        return torch.sin(x * math.pi / 2)
    if name == "sine":
        return 1 - torch.cos(x * math.pi / 2)
    return x


class ExtendIntermediateSigmas:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "extend"
    DESCRIPTION = ("Adds `steps` - 1 sigmas inside every step whose starting sigma lies between end_at_sigma and "
                   "start_at_sigma (-1: no upper limit), spaced linearly, or denser near the start (cosine) or end "
                   "(sine).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "sigmas": ("SIGMAS",), "steps": ("INT", {"default": 2, "min": 1, "max": 100}),
            "start_at_sigma": ("FLOAT", {"default": -1.0, "min": -1.0, "max": 20000.0, "step": 0.01, "round": False}),
            "end_at_sigma": ("FLOAT", {"default": 12.0, "min": 0.0, "max": 20000.0, "step": 0.01, "round": False}),
            "spacing": (["linear", "cosine", "sine"],)}}

    def extend(self, sigmas, steps: int, start_at_sigma: float, end_at_sigma: float, spacing: str):
        import torch

        sigmas = sigmas_input(sigmas)
        upper = math.inf if start_at_sigma < 0 else start_at_sigma
        fractions = _spacing(spacing, torch.linspace(0, 1, steps + 1)[1:-1])
        values: list[float] = []
        for current, following in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
            values.append(current)
            if end_at_sigma <= current <= upper:
                values.extend((fractions * (following - current) + current).tolist())
        values.extend(sigmas[-1:].tolist())
        return (torch.tensor(values, dtype=torch.float32),)


class ManualSigmas:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "get_sigmas"
    DESCRIPTION = "Sigmas written out: every number in the text, in order."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"sigmas": ("STRING", {"default": "1, 0.5", "multiline": False})}}

    def get_sigmas(self, sigmas: str):
        import torch

        return (torch.tensor([float(v) for v in NUMBER.findall(sigmas)], dtype=torch.float32),)


class SamplingPercentToSigma:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("FLOAT",)
    RETURN_NAMES = ("sigma_value",)
    FUNCTION = "get_sigma"
    DESCRIPTION = "The model's sigma at a fraction of the way through sampling (0 = start, 1 = end)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL",),
            "sampling_percent": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.0001}),
            "return_actual_sigma": ("BOOLEAN", {"default": False, "tooltip": (
                "At 0 and 1, give the model's largest and smallest sigma rather than the bounds that "
                "start/end percent checks use.")})}}

    def get_sigma(self, model, sampling_percent: float, return_actual_sigma: bool):
        schedule = model_input(model).schedule
        if return_actual_sigma and sampling_percent == 0.0:
            return (float(schedule.sigma_max),)
        if return_actual_sigma and sampling_percent == 1.0:
            return (float(schedule.sigma_min),)
        return (schedule.percent_to_sigma(sampling_percent),)


NODE_CLASS_MAPPINGS = {cls.__name__: cls for cls in (
    SplitSigmas, SplitSigmasDenoise, FlipSigmas, SetFirstSigma, ExtendIntermediateSigmas, ManualSigmas,
    SamplingPercentToSigma)}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
