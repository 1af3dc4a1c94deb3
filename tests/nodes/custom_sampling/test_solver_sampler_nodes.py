"""SamplerDPMAdaptative and SamplerSASolver through the engine: the SAMPLER they give runs the sampler with their
options (checked against the sampler function called directly on the Gaussian toy problem), and options on which
dpm_adaptive would never finish are refused."""
from __future__ import annotations

import pytest
import torch

from graph_engine import Engine, Folders
from nodes.runtime.sampling import SAMPLERS, karras_sigmas, sd_schedule
from nodes.runtime.sampling.sa_solver import sde_interval
from tests.fixtures.registries import builtin_registry
from tests.nodes.latent.latent_helpers import CAUGHT, TCatch
from tests.nodes.sampling.test_sampler_properties import gaussian_denoiser

SIGMAS = karras_sigmas(10, 0.03, 14.6)
MODELS: dict[str, object] = {}


class MFeed:
    """Outputs the MODEL stored under `key`."""

    CATEGORY = "tests"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"key": ("STRING", {"default": ""})}}

    def run(self, key):
        return (MODELS[key],)


@pytest.fixture
def engine(tmp_path) -> Engine:
    folders = Folders.under(tmp_path)
    return Engine(builtin_registry(folders, {"MFeed": MFeed, "TCatch": TCatch}), folders)


def run_node(engine: Engine, class_type: str, inputs: dict, key: str):
    result = engine.run({"n": {"class_type": class_type, "inputs": inputs},
                         "out": {"class_type": "TCatch", "inputs": {"value": ["n", 0], "key": key}}})
    return result, CAUGHT.pop(key, None)


@pytest.fixture(scope="module")
def noise() -> torch.Tensor:
    return torch.randn(8, 4, 4, 4, generator=torch.Generator().manual_seed(2))


def sample(sampler, noise, seed: int = 5) -> torch.Tensor:
    return sampler.sample(gaussian_denoiser, sd_schedule(), SIGMAS, torch.zeros_like(noise), noise, seed)


ADAPTIVE = {"order": 2, "rtol": 0.01, "atol": 0.001, "h_init": 0.1, "pcoeff": 0.2, "icoeff": 0.9, "dcoeff": 0.1,
            "accept_safety": 0.7, "eta": 0.5, "s_noise": 0.8}


def test_dpm_adaptative_node_gives_dpm_adaptive_with_its_options(engine, noise):
    result, sampler = run_node(engine, "SamplerDPMAdaptative", ADAPTIVE, "adaptive")
    assert result.ok, result.error
    assert sampler.sampler_function is SAMPLERS["dpm_adaptive"] and dict(sampler.extra_options) == ADAPTIVE
    direct = SAMPLERS["dpm_adaptive"](gaussian_denoiser, noise * SIGMAS[0], SIGMAS, extra_args={"seed": 5},
                                      **ADAPTIVE)
    torch.testing.assert_close(sample(sampler, noise), direct, rtol=0, atol=0)
    default = SAMPLERS["dpm_adaptive"](gaussian_denoiser, noise * SIGMAS[0], SIGMAS, extra_args={"seed": 5})
    assert (direct - default).abs().max() > 1e-3


@pytest.mark.parametrize("change, named", [({"h_init": 0.0}, "h_init"), ({"rtol": 0.0, "atol": 0.0}, "rtol"),
                                           ({"accept_safety": 3.0}, "accept_safety")])
def test_dpm_adaptative_node_refuses_options_that_never_finish(engine, change, named):
    result, _ = run_node(engine, "SamplerDPMAdaptative", {**ADAPTIVE, **change}, "refused")
    assert not result.ok and named in str(result.error)


def test_sa_solver_node_makes_its_sde_interval_from_the_models_schedule(engine, noise, model):
    MODELS["sd"] = model
    inputs = {"model": ["m", 0], "eta": 0.6, "sde_start_percent": 0.3, "sde_end_percent": 0.9, "s_noise": 0.9,
              "predictor_order": 2, "corrector_order": 1, "use_pece": True, "simple_order_2": True}
    result = engine.run({"m": {"class_type": "MFeed", "inputs": {"key": "sd"}},
                         "n": {"class_type": "SamplerSASolver", "inputs": inputs},
                         "out": {"class_type": "TCatch", "inputs": {"value": ["n", 0], "key": "sa"}}})
    assert result.ok, result.error
    sampler = CAUGHT.pop("sa")
    assert sampler.sampler_function is SAMPLERS["sa_solver"]
    schedule = sd_schedule()
    tau = sde_interval(schedule.percent_to_sigma(0.3), schedule.percent_to_sigma(0.9), 0.6)
    for sigma in SIGMAS[:-1]:
        assert sampler.extra_options["tau_func"](sigma) == tau(sigma)
    assert {s: sampler.extra_options["tau_func"](s) for s in (14.0, 1.0, 0.05)} == {14.0: 0.0, 1.0: 0.6, 0.05: 0.0}
    direct = SAMPLERS["sa_solver"](gaussian_denoiser, noise * SIGMAS[0], SIGMAS, extra_args={"seed": 5},
                                   tau_func=tau, s_noise=0.9, predictor_order=2, corrector_order=1, use_pece=True,
                                   simple_order_2=True)
    torch.testing.assert_close(sample(sampler, noise), direct, rtol=0, atol=0)
