"""The SAMPLER makers of ComfyUI's comfy_extras.nodes_custom_sampler: a KSampler sampler by name, or one with its
options."""
from __future__ import annotations

from graph_engine import InvalidNodeInput
from nodes.runtime.sampler_names import SAMPLER_NAMES

from .wires import model_input

PYTHON_MODULE = "comfy_extras.nodes_custom_sampler"
CATEGORY = "model/sampling/samplers"


class KSamplerSelect:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get_sampler"
    DESCRIPTION = "A KSampler sampler by name, with its default options."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"sampler_name": (list(SAMPLER_NAMES),)}}

    def get_sampler(self, sampler_name: str):
        from nodes.runtime.sampling import sampler_object

        return (sampler_object(sampler_name),)


def _option(default: float, high: float = 100.0, advanced: bool = True) -> tuple:
    options = {"default": default, "min": 0.0, "max": high, "step": 0.01, "round": False}
    return ("FLOAT", {**options, "advanced": True} if advanced else options)


def _noise_device() -> tuple:
    return (["gpu", "cpu"], {"advanced": True})


def _sampler(name: str, **options):
    from nodes.runtime.sampling import sampler_object

    return (sampler_object(name, **options),)


class _SamplerWithOptions:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get_sampler"


class SamplerEulerAncestral(_SamplerWithOptions):
    DESCRIPTION = "euler_ancestral with its noise options: eta scales the fresh noise per step (0: plain euler)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"eta": _option(1.0), "s_noise": _option(1.0)}}

    def get_sampler(self, eta: float, s_noise: float):
        return _sampler("euler_ancestral", eta=eta, s_noise=s_noise)


class SamplerEulerAncestralCFGPP(_SamplerWithOptions):
    DESCRIPTION = "euler_ancestral_cfg_pp with its noise options (eta 0: euler_cfg_pp)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"eta": _option(1.0, 1.0, advanced=False), "s_noise": _option(1.0, 10.0, advanced=False)}}

    def get_sampler(self, eta: float, s_noise: float):
        return _sampler("euler_ancestral_cfg_pp", eta=eta, s_noise=s_noise)


class SamplerDPMPP_2S_Ancestral(_SamplerWithOptions):
    DESCRIPTION = "dpmpp_2s_ancestral with its noise options."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"eta": _option(1.0, advanced=False), "s_noise": _option(1.0, advanced=False)}}

    def get_sampler(self, eta: float, s_noise: float):
        return _sampler("dpmpp_2s_ancestral", eta=eta, s_noise=s_noise)


class SamplerLMS(_SamplerWithOptions):
    DESCRIPTION = "lms with the number of earlier slopes it extrapolates from."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"order": ("INT", {"default": 4, "min": 1, "max": 100, "advanced": True})}}

    def get_sampler(self, order: int):
        return _sampler("lms", order=order)


class SamplerDPMPP_SDE(_SamplerWithOptions):
    DESCRIPTION = "dpmpp_sde with its options; noise_device picks where the Brownian tree is drawn (different numbers)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"eta": _option(1.0), "s_noise": _option(1.0), "r": _option(0.5),
                             "noise_device": _noise_device()}}

    def get_sampler(self, eta: float, s_noise: float, r: float, noise_device: str):
        return _sampler("dpmpp_sde" if noise_device == "cpu" else "dpmpp_sde_gpu", eta=eta, s_noise=s_noise, r=r)


class SamplerDPMPP_2M_SDE(_SamplerWithOptions):
    DESCRIPTION = "dpmpp_2m_sde with its options: the midpoint or Heun correction, noise strength and device."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"solver_type": (["midpoint", "heun"],), "eta": _option(1.0), "s_noise": _option(1.0),
                             "noise_device": _noise_device()}}

    def get_sampler(self, solver_type: str, eta: float, s_noise: float, noise_device: str):
        name = "dpmpp_2m_sde" if noise_device == "cpu" else "dpmpp_2m_sde_gpu"
        return _sampler(name, eta=eta, s_noise=s_noise, solver_type=solver_type)


class SamplerDPMPP_3M_SDE(_SamplerWithOptions):
    DESCRIPTION = "dpmpp_3m_sde with its noise strength and device."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"eta": _option(1.0), "s_noise": _option(1.0), "noise_device": _noise_device()}}

    def get_sampler(self, eta: float, s_noise: float, noise_device: str):
        return _sampler("dpmpp_3m_sde" if noise_device == "cpu" else "dpmpp_3m_sde_gpu", eta=eta, s_noise=s_noise)


class SamplerER_SDE(_SamplerWithOptions):
    DESCRIPTION = ("er_sde with its noise scale function (ER-SDE's, the reverse-time SDE's, or none: the ODE), the "
                   "number of stages and the noise strength.")

    @classmethod
    def INPUT_TYPES(cls):
        eta = _option(1.0, 10.0)
        eta[1]["tooltip"] = "How stochastic the solver is: 0 is the ODE; large values can break the image."
        return {"required": {"solver_type": (["ER-SDE", "Reverse-time SDE", "ODE"],),
                             "max_stage": ("INT", {"default": 3, "min": 1, "max": 3, "advanced": True}),
                             "eta": eta, "s_noise": _option(1.0)}}

    def get_sampler(self, solver_type: str, max_stage: int, eta: float, s_noise: float):
        from nodes.runtime.sampling.multistep import er_sde_noise_scaler, reverse_time_sde_noise_scaler

        if solver_type == "ODE" or eta == 0:
            scaler, s_noise = er_sde_noise_scaler(0.0), 0.0  # x itself: no noise term
        elif solver_type == "ER-SDE":
            scaler = er_sde_noise_scaler(eta)
        else:
            scaler = reverse_time_sde_noise_scaler(eta)
        return _sampler("er_sde", s_noise=s_noise, noise_scaler=scaler, max_stage=max_stage)


class SamplerSEEDS2(_SamplerWithOptions):
    DESCRIPTION = ("seeds_2 with its options. exp_heun_2_x0 is solver_type phi_2, r 1, eta 0; exp_heun_2_x0_sde is "
                   "phi_2, r 1, eta 1, s_noise 1.")

    @classmethod
    def INPUT_TYPES(cls):
        def tip(option: tuple, text: str) -> tuple:
            return (option[0], {**option[1], "tooltip": text})

        return {"required": {
            "solver_type": (["phi_1", "phi_2"],),
            "eta": tip(_option(1.0), "How much fresh noise each step takes in (0: deterministic)."),
            "s_noise": tip(_option(1.0), "Scale of that noise."),
            "r": tip(("FLOAT", {"default": 0.5, "min": 0.01, "max": 1.0, "step": 0.01, "round": False,
                                "advanced": True}), "Where in the step the intermediate stage sits (in log sigma).")}}

    def get_sampler(self, solver_type: str, eta: float, s_noise: float, r: float):
        return _sampler("seeds_2", eta=eta, s_noise=s_noise, r=r, solver_type=solver_type)


class SamplerDPMAdaptative(_SamplerWithOptions):
    DESCRIPTION = ("dpm_adaptive with its step-size control: steps of the given order checked against one order lower, "
                   "kept within rtol * |x| + atol, the next step sized by a PID controller; eta adds fresh noise.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"order": ("INT", {"default": 3, "min": 2, "max": 3, "advanced": True}),
                             "rtol": _option(0.05), "atol": _option(0.0078), "h_init": _option(0.05),
                             "pcoeff": _option(0.0), "icoeff": _option(1.0), "dcoeff": _option(0.0),
                             "accept_safety": _option(0.81), "eta": _option(0.0), "s_noise": _option(1.0)}}

    def get_sampler(self, order: int, rtol: float, atol: float, h_init: float, pcoeff: float, icoeff: float,
                    dcoeff: float, accept_safety: float, eta: float, s_noise: float):
        from nodes.runtime.sampling.dpm_solver import ACCEPT_SAFETY_LIMIT

        if h_init <= 0:
            raise InvalidNodeInput("h_init must be above 0: it is the first step's size in log sigma")
        if rtol <= 0 and atol <= 0:
            raise InvalidNodeInput("rtol and atol are both 0: no step could meet that tolerance; raise either")
        if accept_safety >= ACCEPT_SAFETY_LIMIT:
            raise InvalidNodeInput(f"accept_safety must be below {ACCEPT_SAFETY_LIMIT:.3f} (the largest step factor "
                                   "the controller gives), or no step is ever accepted")
        return _sampler("dpm_adaptive", order=order, rtol=rtol, atol=atol, h_init=h_init, pcoeff=pcoeff,
                        icoeff=icoeff, dcoeff=dcoeff, accept_safety=accept_safety, eta=eta, s_noise=s_noise)


class SamplerSASolver(_SamplerWithOptions):
    DESCRIPTION = ("sa_solver with its options: stochastic with strength eta between the model's noise levels at "
                   "sde_start_percent and sde_end_percent of sampling, the predictor's and corrector's orders, PECE "
                   "(one more model call per step), and the paper's simpler order-2 coefficients.")

    @classmethod
    def INPUT_TYPES(cls):
        def percent(default: float) -> tuple:
            return ("FLOAT", {"default": default, "min": 0.0, "max": 1.0, "step": 0.001, "advanced": True})

        return {"required": {
            "model": ("MODEL",), "eta": _option(1.0, 10.0), "sde_start_percent": percent(0.2),
            "sde_end_percent": percent(0.8), "s_noise": _option(1.0),
            "predictor_order": ("INT", {"default": 3, "min": 1, "max": 6, "advanced": True}),
            "corrector_order": ("INT", {"default": 4, "min": 0, "max": 6, "advanced": True}),
            "use_pece": ("BOOLEAN", {"advanced": True}), "simple_order_2": ("BOOLEAN", {"advanced": True})}}

    def get_sampler(self, model, eta: float, sde_start_percent: float, sde_end_percent: float, s_noise: float,
                    predictor_order: int, corrector_order: int, use_pece: bool, simple_order_2: bool):
        from nodes.runtime.sampling.sa_solver import sde_interval

        schedule = model_input(model).schedule
        tau = sde_interval(schedule.percent_to_sigma(sde_start_percent), schedule.percent_to_sigma(sde_end_percent),
                           eta)
        return _sampler("sa_solver", tau_func=tau, s_noise=s_noise, predictor_order=predictor_order,
                        corrector_order=corrector_order, use_pece=bool(use_pece), simple_order_2=bool(simple_order_2))


NODE_CLASS_MAPPINGS = {cls.__name__: cls for cls in (
    KSamplerSelect, SamplerEulerAncestral, SamplerEulerAncestralCFGPP, SamplerDPMPP_2S_Ancestral, SamplerLMS,
    SamplerDPMPP_SDE,
    SamplerDPMPP_2M_SDE, SamplerDPMPP_3M_SDE, SamplerER_SDE, SamplerSEEDS2, SamplerDPMAdaptative, SamplerSASolver)}
NODE_DISPLAY_NAME_MAPPINGS = {"SamplerEulerAncestralCFGPP": "SamplerEulerAncestralCFG++"}
