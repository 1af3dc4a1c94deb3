"""The sigma schedulers of ComfyUI's comfy_extras.nodes_custom_sampler: each makes a SIGMAS list for SamplerCustom."""
from __future__ import annotations

from nodes.runtime.sampler_names import SCHEDULER_NAMES

from .wires import model_input

PYTHON_MODULE = "comfy_extras.nodes_custom_sampler"
CATEGORY = "model/sampling/schedulers"
SD_SIGMA_MAX, SD_SIGMA_MIN = 14.614642, 0.0291675  # SD1's largest and smallest sigma, ComfyUI's defaults


def steps_input(default: int = 20) -> tuple:
    return ("INT", {"default": default, "min": 1, "max": 10000})


def denoise_input() -> tuple:
    return ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01})


def advanced_float(default: float, low: float, high: float, step: float = 0.01) -> tuple:
    return ("FLOAT", {"default": default, "min": low, "max": high, "step": step, "round": False, "advanced": True})


def sigma_range_inputs() -> dict:
    return {"sigma_max": advanced_float(SD_SIGMA_MAX, 0.0, 5000.0),
            "sigma_min": advanced_float(SD_SIGMA_MIN, 0.0, 5000.0)}


class _Scheduler:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "get_sigmas"


class BasicScheduler(_Scheduler):
    DESCRIPTION = "A KSampler scheduler's sigmas for the model; denoise < 1 keeps the last steps of a longer schedule."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "scheduler": (list(SCHEDULER_NAMES),), "steps": steps_input(),
                             "denoise": denoise_input()}}

    def get_sigmas(self, model, scheduler: str, steps: int, denoise: float):
        from nodes.runtime.sampling import basic_sigmas

        return (basic_sigmas(model_input(model).schedule, scheduler, steps, denoise),)


class KarrasScheduler(_Scheduler):
    DESCRIPTION = "Karras et al. (2022): sigmas evenly spaced in sigma^(1/rho)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": steps_input(), **sigma_range_inputs(), "rho": advanced_float(7.0, 0.0, 100.0)}}

    def get_sigmas(self, steps: int, sigma_max: float, sigma_min: float, rho: float):
        from nodes.runtime.sampling import karras_sigmas

        return (karras_sigmas(steps, sigma_min, sigma_max, rho),)


class ExponentialScheduler(_Scheduler):
    DESCRIPTION = "Sigmas evenly spaced in log sigma."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": steps_input(), **sigma_range_inputs()}}

    def get_sigmas(self, steps: int, sigma_max: float, sigma_min: float):
        from nodes.runtime.sampling import exponential_sigmas

        return (exponential_sigmas(steps, sigma_min, sigma_max),)


class PolyexponentialScheduler(_Scheduler):
    DESCRIPTION = "Log sigma along a power ramp: rho 1 is the exponential schedule."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": steps_input(), **sigma_range_inputs(), "rho": advanced_float(1.0, 0.0, 100.0)}}

    def get_sigmas(self, steps: int, sigma_max: float, sigma_min: float, rho: float):
        from nodes.runtime.sampling import polyexponential_sigmas

        return (polyexponential_sigmas(steps, sigma_min, sigma_max, rho),)


class LaplaceScheduler(_Scheduler):
    DESCRIPTION = "Log sigma at the quantiles of a Laplace distribution (mu, beta), clamped to the sigma range."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": steps_input(), **sigma_range_inputs(),
                             "mu": advanced_float(0.0, -10.0, 10.0, 0.1), "beta": advanced_float(0.5, 0.0, 10.0, 0.1)}}

    def get_sigmas(self, steps: int, sigma_max: float, sigma_min: float, mu: float, beta: float):
        from nodes.runtime.sampling import laplace_sigmas

        return (laplace_sigmas(steps, sigma_min, sigma_max, mu, beta),)


class VPScheduler(_Scheduler):
    DESCRIPTION = "The continuous variance-preserving SDE's sigmas."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": steps_input(), "beta_d": advanced_float(19.9, 0.0, 5000.0),
                             "beta_min": advanced_float(0.1, 0.0, 5000.0),
                             "eps_s": advanced_float(0.001, 0.0, 1.0, 0.0001)}}

    def get_sigmas(self, steps: int, beta_d: float, beta_min: float, eps_s: float):
        from nodes.runtime.sampling import vp_sigmas

        return (vp_sigmas(steps, beta_d, beta_min, eps_s),)


class BetaSamplingScheduler(_Scheduler):
    DESCRIPTION = "Timesteps at the quantiles of a Beta(alpha, beta) distribution (the `beta` scheduler, tunable)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "steps": steps_input(), "alpha": advanced_float(0.6, 0.0, 50.0),
                             "beta": advanced_float(0.6, 0.0, 50.0)}}

    def get_sigmas(self, model, steps: int, alpha: float, beta: float):
        from nodes.runtime.sampling.schedulers import sigmas_beta

        return (sigmas_beta(model_input(model).schedule, steps, alpha, beta),)


class SDTurboScheduler(_Scheduler):
    DESCRIPTION = "SD/SDXL Turbo's timesteps 999, 899, ...: `steps` of them, starting lower when denoise < 1."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "steps": ("INT", {"default": 1, "min": 1, "max": 10}),
                             "denoise": ("FLOAT", {"default": 1.0, "min": 0, "max": 1.0, "step": 0.01})}}

    def get_sigmas(self, model, steps: int, denoise: float):
        from nodes.runtime.sampling.schedulers import turbo_sigmas

        return (turbo_sigmas(model_input(model).schedule, steps, denoise),)


NODE_CLASS_MAPPINGS = {cls.__name__: cls for cls in (
    BasicScheduler, KarrasScheduler, ExponentialScheduler, PolyexponentialScheduler, LaplaceScheduler, SDTurboScheduler,
    BetaSamplingScheduler, VPScheduler)}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
