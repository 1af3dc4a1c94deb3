"""SamplerCustom, SamplerCustomAdvanced and their NOISE and GUIDER makers (ComfyUI's comfy_extras.nodes_custom_sampler).

Both samplers return the sampled latent and the last step's x0 prediction (`denoised_output`).
"""
from __future__ import annotations

from graph_engine.estimate import NodeEstimate
from nodes.diffusion.sampling import MAX_SEED, progress_reporter, sampling_estimate

from .wires import guider_input, model_input, noise_input, sampler_input, sigmas_input

PYTHON_MODULE = "comfy_extras.nodes_custom_sampler"


def _cfg_input(default: float = 8.0) -> tuple:
    return ("FLOAT", {"default": default, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01})


def _seed_input() -> tuple:
    return ("INT", {"default": 0, "min": 0, "max": MAX_SEED, "control_after_generate": True})


class SamplerCustom:
    CATEGORY = "model/sampling/custom"
    RETURN_TYPES = ("LATENT", "LATENT")
    RETURN_NAMES = ("output", "denoised_output")
    FUNCTION = "sample"
    DESCRIPTION = "Samples with classifier-free guidance, a SAMPLER and SIGMAS chosen by other nodes."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL",), "add_noise": ("BOOLEAN", {"default": True, "advanced": True}),
            "noise_seed": _seed_input(), "cfg": _cfg_input(), "positive": ("CONDITIONING",),
            "negative": ("CONDITIONING",), "sampler": ("SAMPLER",), "sigmas": ("SIGMAS",),
            "latent_image": ("LATENT",)}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes) -> NodeEstimate | None:
        return _two_latents(sampling_estimate(sizes.get("latent_image"), inputs.get("cfg")))

    def sample(self, model, add_noise: bool, noise_seed: int, cfg: float, positive, negative, sampler, sigmas,
               latent_image):
        from nodes.runtime.guiders import CFGGuider
        from nodes.runtime.sample_latent import check_latent, sample_with_guider
        from nodes.runtime.sampling import SeededNoise, ZeroNoise

        model = model_input(model)
        check_latent(latent_image, model)
        noise = (SeededNoise(noise_seed) if add_noise else ZeroNoise()).generate_noise(latent_image)
        return sample_with_guider(CFGGuider(model, positive, negative, cfg), noise, noise_seed,
                                  sampler_input(sampler), sigmas_input(sigmas), latent_image, progress_reporter(model))


class SamplerCustomAdvanced:
    CATEGORY = "model/sampling/custom"
    RETURN_TYPES = ("LATENT", "LATENT")
    RETURN_NAMES = ("output", "denoised_output")
    FUNCTION = "sample"
    DESCRIPTION = "Samples with a NOISE, a GUIDER, a SAMPLER and SIGMAS chosen by other nodes."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"noise": ("NOISE",), "guider": ("GUIDER",), "sampler": ("SAMPLER",),
                             "sigmas": ("SIGMAS",), "latent_image": ("LATENT",)}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes) -> NodeEstimate | None:
        return _two_latents(sampling_estimate(sizes.get("latent_image"), 8.0))

    def sample(self, noise, guider, sampler, sigmas, latent_image):
        from nodes.runtime.sample_latent import check_latent, sample_with_guider

        guider, noise = guider_input(guider), noise_input(noise)
        check_latent(latent_image, guider.model)
        return sample_with_guider(guider, noise.generate_noise(latent_image), noise.seed, sampler_input(sampler),
                                  sigmas_input(sigmas), latent_image, progress_reporter(guider.model))


def _two_latents(estimate: NodeEstimate | None) -> NodeEstimate | None:
    """The sampler's estimate with its result given twice: the sampled latent and the denoised one."""
    if estimate is None:
        return None
    result = estimate.outputs[0]
    return NodeEstimate((result, result), estimate.new_bytes + result.nbytes, estimate.note)


class RandomNoise:
    CATEGORY = "model/sampling/noise"
    RETURN_TYPES = ("NOISE",)
    FUNCTION = "get_noise"
    DESCRIPTION = "KSampler's starting noise for a seed."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"noise_seed": _seed_input()}}

    def get_noise(self, noise_seed: int):
        from nodes.runtime.sampling import SeededNoise

        return (SeededNoise(noise_seed),)


class DisableNoise:
    CATEGORY = "model/sampling/noise"
    RETURN_TYPES = ("NOISE",)
    FUNCTION = "get_noise"
    DESCRIPTION = "No starting noise: sampling starts from the latent as it is."

    @classmethod
    def INPUT_TYPES(cls):
        return {}  # no inputs (an empty "required" would list a section without inputs)

    def get_noise(self):
        from nodes.runtime.sampling import ZeroNoise

        return (ZeroNoise(),)


class AddNoise:
    CATEGORY = "model/sampling/noise"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "add_noise"
    DESCRIPTION = ("Adds noise of the level the sigmas span (first minus last) to the latent, as a sampler starting "
                   "there would see it.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "noise": ("NOISE",), "sigmas": ("SIGMAS",),
                             "latent_image": ("LATENT",)}}

    def add_noise(self, model, noise, sigmas, latent_image):
        import torch

        from nodes.runtime.sample_latent import check_latent
        from nodes.runtime.sampling import noise_latent

        sigmas = sigmas_input(sigmas)
        if len(sigmas) == 0:
            return (latent_image,)
        model = model_input(model)
        samples = check_latent(latent_image, model).float()
        drawn = noise_input(noise).generate_noise(latent_image).float()
        scale = (sigmas[0] - sigmas[-1]).abs() if len(sigmas) > 1 else sigmas[0]
        if torch.count_nonzero(samples) > 0:  # an empty latent is left as zeros, as ComfyUI does
            samples = model.latent_format.to_model(samples)
        noisy = model.latent_format.from_model(noise_latent(scale.float().cpu(), drawn, samples))
        out = dict(latent_image)
        out["samples"] = torch.nan_to_num(noisy, nan=0.0, posinf=0.0, neginf=0.0)
        return (out,)


class BasicGuider:
    CATEGORY = "model/sampling/guiders"
    RETURN_TYPES = ("GUIDER",)
    FUNCTION = "get_guider"
    DESCRIPTION = "Guides by one conditioning, without classifier-free guidance (e.g. for distilled models)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "conditioning": ("CONDITIONING",)}}

    def get_guider(self, model, conditioning):
        from nodes.runtime.guiders import CFGGuider as Guider

        return (Guider(model_input(model), conditioning),)


class CFGGuider:
    CATEGORY = "model/sampling/guiders"
    RETURN_TYPES = ("GUIDER",)
    FUNCTION = "get_guider"
    DESCRIPTION = "Classifier-free guidance: the positive prediction pushed away from the negative by cfg."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "positive": ("CONDITIONING",), "negative": ("CONDITIONING",),
                             "cfg": _cfg_input()}}

    def get_guider(self, model, positive, negative, cfg: float):
        from nodes.runtime.guiders import CFGGuider as Guider

        return (Guider(model_input(model), positive, negative, cfg),)


class DualCFGGuider:
    CATEGORY = "model/sampling/guiders"
    RETURN_TYPES = ("GUIDER",)
    FUNCTION = "get_guider"
    DESCRIPTION = ("Guidance by two conditionings: cond2 against the negative (cfg_cond2_negative) and cond1 against "
                   "cond2 (cfg_conds); nested applies the second inside the first.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "cond1": ("CONDITIONING",), "cond2": ("CONDITIONING",),
                             "negative": ("CONDITIONING",), "cfg_conds": _cfg_input(),
                             "cfg_cond2_negative": _cfg_input(), "style": (["regular", "nested"],)}}

    def get_guider(self, model, cond1, cond2, negative, cfg_conds: float, cfg_cond2_negative: float, style: str):
        from nodes.runtime.guiders import DualCFGGuider as Guider

        return (Guider(model_input(model), cond1, cond2, negative, cfg_conds, cfg_cond2_negative, style == "nested"),)


class DualModelGuider:
    CATEGORY = "model/sampling/guiders"
    RETURN_TYPES = ("GUIDER",)
    FUNCTION = "get_guider"
    DESCRIPTION = ("Classifier-free guidance with the negative pass on another model (model_negative; without it, "
                   "ordinary CFG on model).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {"tooltip": "The model that predicts the positive."}),
                             "positive": ("CONDITIONING",), "cfg": _cfg_input(4.0)},
                "optional": {"model_negative": ("MODEL", {"tooltip": "The model that predicts the negative; the "
                                                                    "same model gives ordinary CFG."}),
                             "negative": ("CONDITIONING", {"tooltip": "The negative prompt, on the negative model."})}}

    def get_guider(self, model, positive, cfg: float, model_negative=None, negative=None):
        from graph_engine import InvalidNodeInput
        from nodes.runtime.guiders import CFGGuider as Guider, DualModelGuider as DualGuider

        if negative is None:
            # ComfyUI then runs the negative model without text, which only image-only models can; SD's UNets cannot.
            raise InvalidNodeInput("negative: Stable Diffusion models need a negative conditioning for the "
                                   "unconditional pass; connect one (an empty prompt, or ConditioningZeroOut)")
        if model_negative is None:
            return (Guider(model_input(model), positive, negative, cfg),)
        return (DualGuider(model_input(model), model_input(model_negative), positive, negative, cfg),)


NODE_CLASS_MAPPINGS = {cls.__name__: cls for cls in (
    SamplerCustom, SamplerCustomAdvanced, RandomNoise, DisableNoise, AddNoise, BasicGuider, CFGGuider, DualCFGGuider,
    DualModelGuider)}
NODE_DISPLAY_NAME_MAPPINGS = {"BasicGuider": "Basic Guider", "CFGGuider": "CFG Guider",
                              "DualCFGGuider": "Dual CFG Guider", "DualModelGuider": "Dual Model CFG Guider"}
