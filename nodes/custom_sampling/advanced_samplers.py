"""ComfyUI's comfy_extras.nodes_advanced_samplers: LCM with noise options, LCM that upscales as it samples, and
Euler CFG++ in two versions."""
from __future__ import annotations

PYTHON_MODULE = "comfy_extras.nodes_advanced_samplers"
UPSCALE_METHODS = ("bislerp", "nearest-exact", "bilinear", "area", "bicubic")


class SamplerLCMUpscale:
    CATEGORY = "model/sampling/samplers"
    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get_sampler"
    DESCRIPTION = ("LCM that enlarges the latent by scale_ratio over its first scale_steps steps (-1: about half of "
                   "them), so the image is sampled at the larger size directly.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "scale_ratio": ("FLOAT", {"default": 1.0, "min": 0.1, "max": 20.0, "step": 0.01, "advanced": True}),
            "scale_steps": ("INT", {"default": -1, "min": -1, "max": 1000, "step": 1, "advanced": True}),
            "upscale_method": (list(UPSCALE_METHODS),)}}

    def get_sampler(self, scale_ratio: float, scale_steps: int, upscale_method: str):
        from nodes.runtime.sampling import SamplerObject
        from nodes.runtime.sampling.samplers import sample_lcm_upscale

        options = {"total_upscale": scale_ratio, "upscale_steps": None if scale_steps < 0 else scale_steps,
                   "upscale_method": upscale_method}
        return (SamplerObject(sample_lcm_upscale, options),)


class SamplerLCM:
    CATEGORY = "model/sampling/samplers"
    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get_sampler"
    DESCRIPTION = "LCM with its per-step noise tunable: a strength going from s_noise to s_noise_end, and a clamp."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "s_noise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 64.0, "step": 0.01,
                                  "tooltip": "Strength of the fresh noise at the first step (1: as trained)."}),
            "s_noise_end": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 64.0, "step": 0.01,
                                      "tooltip": "Strength of the fresh noise at the last step, reached linearly."}),
            "noise_clip_std": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 10.0, "step": 0.01,
                                         "tooltip": "Clamp the fresh noise to this many standard deviations "
                                                    "(0: off)."})}}

    def get_sampler(self, s_noise: float, s_noise_end: float, noise_clip_std: float):
        from nodes.runtime.sampling import sampler_object

        return (sampler_object("lcm", s_noise=float(s_noise), s_noise_end=float(s_noise_end),
                               noise_clip_std=float(noise_clip_std)),)


class SamplerEulerCFGpp:
    CATEGORY = "experimental"
    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get_sampler"
    DESCRIPTION = ("Euler with CFG++: \"regular\" is euler_cfg_pp; \"alternative\" adds the negative's offset to "
                   "the slope.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"version": (["regular", "alternative"], {"advanced": True})}}

    def get_sampler(self, version: str):
        from nodes.runtime.sampling import SamplerObject, sampler_object
        from nodes.runtime.sampling.cfg_pp import sample_euler_cfg_pp_alternative

        if version == "alternative":
            return (SamplerObject(sample_euler_cfg_pp_alternative),)
        return (sampler_object("euler_cfg_pp"),)


NODE_CLASS_MAPPINGS = {"SamplerLCMUpscale": SamplerLCMUpscale, "SamplerLCM": SamplerLCM,
                       "SamplerEulerCFGpp": SamplerEulerCFGpp}
NODE_DISPLAY_NAME_MAPPINGS = {"SamplerEulerCFGpp": "SamplerEulerCFG++"}
