"""ModelSamplingDiscrete, ModelSamplingContinuousEDM and ModelSamplingContinuousV on the tiny SD1 UNet: the patched
MODEL's x0 (CFGGuider at cfg 1) against the UNet called here with the timestep and input scaling each
parameterization prescribes, the schedules against numpy in float64, and `model.model` as ComfyUI's plugins read it."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.model_patches.model_advanced import (ModelSamplingContinuousEDM, ModelSamplingContinuousV,
                                                ModelSamplingDiscrete)
from tests.nodes.model_patches.predictions import cond, guided, sample_point

CLOSE = {"rtol": 1e-4, "atol": 2e-4}
SIGMA = 3.0


def sd_sigmas(zsnr: bool = False) -> np.ndarray:
    """SD's table in float64: betas linear in sqrt space, optionally rescaled to zero terminal SNR."""
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000) ** 2
    abar = np.cumprod(1 - betas)
    if zsnr:
        root = np.sqrt(abar)
        root = (root - root[-1]) * root[0] / (root[0] - root[-1])
        abar = root ** 2
        abar[-1] = 4.8973451890853435e-08
    return np.sqrt((1 - abar) / abar)


def unet_output(model, x_in: torch.Tensor, timestep: float) -> torch.Tensor:
    """The tiny UNet's raw output for cond(1), called directly."""
    with torch.no_grad():
        return model.unet(x_in, torch.tensor([timestep] * len(x_in)),
                          cond(1)[0][0].expand(len(x_in), -1, -1)).float()


def x0_of(model, patched, x_in_scale: float, timestep: float, to_x0) -> tuple[torch.Tensor, torch.Tensor]:
    x, sigma = sample_point(4, SIGMA)
    out = unet_output(model, x * x_in_scale, timestep)
    return guided(patched, 1.0, x, sigma), to_x0(x, out)


def nearest_step(sigmas: np.ndarray, sigma: float) -> int:
    return int(np.abs(np.log(sigmas) - math.log(sigma)).argmin())


@pytest.mark.parametrize("kind", ["eps", "v_prediction", "x0", "img_to_img"])
def test_discrete_parameterizations(model, kind):
    s = SIGMA
    a = 1 / math.sqrt(s ** 2 + 1)
    to_x0 = {"eps": lambda x, out: x - out * s,
             "v_prediction": lambda x, out: x * a ** 2 - out * s * a,
             "x0": lambda x, out: out, "img_to_img": lambda x, out: out}[kind]
    patched, = ModelSamplingDiscrete().patch(model, kind, False)
    out, expected = x0_of(model, patched, 1.0 if kind == "img_to_img" else a, nearest_step(sd_sigmas(), s), to_x0)
    torch.testing.assert_close(out, expected, **CLOSE)
    assert model.get_model_object("model_sampling").parameterization.name == "eps"  # the source is untouched


def test_lcm_reads_the_distilled_timesteps_and_mixes_x_in(model):
    """Every 20th step (19, 39, ..., 999); x0 = c_out * eps x0 + c_skip * x with t scaled by 10, sigma_data 0.5."""
    distilled = sd_sigmas()[19::20].astype(np.float32).astype(np.float64)
    t = nearest_step(distilled, SIGMA) * 20 + 19
    skip, scale = 0.25 / ((10 * t) ** 2 + 0.25), 10 * t / ((10 * t) ** 2 + 0.25) ** 0.5
    patched, = ModelSamplingDiscrete().patch(model, "lcm", False)
    out, expected = x0_of(model, patched, 1 / math.sqrt(SIGMA ** 2 + 1), t,
                          lambda x, out: scale * (x - out * SIGMA) + skip * x)
    torch.testing.assert_close(out, expected, **CLOSE)
    sampling = patched.model.model_sampling
    assert len(sampling.sigmas) == 50 and sampling.timestep(sampling.sigmas[:1]).item() == 19
    np.testing.assert_allclose(sampling.sigmas.numpy(), distilled, rtol=1e-6)
    assert sampling.percent_to_sigma(0.5) == pytest.approx(float(sampling.sigma(torch.tensor(499.5))), rel=1e-6)


def test_zsnr_rescales_the_table_to_a_nearly_pure_noise_last_step(model):
    patched, = ModelSamplingDiscrete().patch(model, "v_prediction", True)
    sampling = patched.model.model_sampling
    np.testing.assert_allclose(sampling.sigmas.numpy(), sd_sigmas(zsnr=True), rtol=2e-6)
    assert float(sampling.sigma_max) == pytest.approx(4518.85, rel=1e-4)
    assert float(model.model.model_sampling.sigma_max) == pytest.approx(sd_sigmas()[-1], rel=1e-6)


@pytest.mark.parametrize("kind", ["edm", "v_prediction", "eps"])
def test_continuous_edm(model, kind):
    """Timestep log(sigma) / 4; edm's sigma_data is 0.5, the others' 1."""
    data = 0.5 if kind == "edm" else 1.0
    total = SIGMA ** 2 + data ** 2
    to_x0 = {"edm": lambda x, out: x * data ** 2 / total + out * SIGMA * data / total ** 0.5,
             "v_prediction": lambda x, out: x * data ** 2 / total - out * SIGMA * data / total ** 0.5,
             "eps": lambda x, out: x - out * SIGMA}[kind]
    patched, = ModelSamplingContinuousEDM().patch(model, kind, 80.0, 0.01)
    out, expected = x0_of(model, patched, 1 / math.sqrt(total), 0.25 * math.log(SIGMA), to_x0)
    torch.testing.assert_close(out, expected, **CLOSE)
    sampling = patched.model.model_sampling
    np.testing.assert_allclose(sampling.sigmas.numpy(), np.geomspace(0.01, 80.0, 1000), rtol=1e-5)
    assert sampling.percent_to_sigma(0.5) == pytest.approx(math.sqrt(0.01 * 80.0), rel=1e-5)
    assert sampling.percent_to_sigma(0.0) > 1e8 and sampling.percent_to_sigma(1.0) == 0.0


def test_playground_brings_its_latent_format(model):
    patched, = ModelSamplingContinuousEDM().patch(model, "edm_playground_v2.5", 80.0, 0.002)
    samples = torch.ones(1, 4, 2, 2)
    mean, std = np.array([-1.6574, 1.886, -1.383, 2.5155]), np.array([8.4927, 5.9022, 6.5498, 5.2299])
    expected = torch.from_numpy((1 - mean) * 0.5 / std).float().view(1, 4, 1, 1).expand(1, 4, 2, 2)
    torch.testing.assert_close(patched.model.latent_format.to_model(samples), expected)
    torch.testing.assert_close(patched.latent_format.from_model(expected), samples)
    assert patched.model.model_sampling.sigma_data == 0.5 and model.latent_format.scale_factor == 0.18215


def test_continuous_v(model):
    a = 1 / math.sqrt(SIGMA ** 2 + 1)
    patched, = ModelSamplingContinuousV().patch(model, "v_prediction", 500.0, 0.03)
    out, expected = x0_of(model, patched, a, math.atan(SIGMA) * 2 / math.pi,
                          lambda x, out: x * a ** 2 - out * SIGMA * a)
    torch.testing.assert_close(out, expected, **CLOSE)
    sampling = patched.model.model_sampling
    assert float(sampling.sigma(sampling.timestep(torch.tensor(7.0)))) == pytest.approx(7.0, rel=1e-5)


def test_bad_sigmas_are_refused_by_name(model):
    with pytest.raises(InvalidNodeInput, match="sigma_min"):
        ModelSamplingContinuousEDM().patch(model, "edm", 120.0, 0.0)


def test_the_model_view_and_object_patches(model):
    view = model.model
    assert view.diffusion_model is model.unet and view.latent_format is model.latent_format
    assert view.model_type.name == "EPS"
    sampling = view.model_sampling
    np.testing.assert_allclose(sampling.sigmas.numpy(), sd_sigmas(), rtol=1e-6)
    assert int(sampling.timestep(torch.tensor([SIGMA]))) == nearest_step(sd_sigmas(), SIGMA)
    noise, latent = torch.ones(1, 4, 2, 2), torch.full((1, 4, 2, 2), 0.5)
    torch.testing.assert_close(sampling.noise_scaling(torch.tensor(2.0), noise, latent), noise * 2 + latent)
    torch.testing.assert_close(sampling.noise_scaling(torch.tensor(2.0), noise, latent, max_denoise=True),
                               noise * math.sqrt(5) + latent)
    clone = model.clone()
    clone.add_object_patch("model_sampling", ModelSamplingDiscrete().patch(model, "x0", False)[0].model.model_sampling)
    assert clone.get_model_object("model_sampling").parameterization.name == "x0"
    assert model.get_model_object("model_sampling").parameterization.name == "eps"
    with pytest.raises(InvalidNodeInput, match="model sampling"):
        clone.add_object_patch("model_sampling", object())
    with pytest.raises(InvalidNodeInput, match="object patches for"):
        clone.add_object_patch("diffusion_model.input_blocks", object())


def test_the_sampler_noises_and_reads_back_through_the_model_sampling(model):
    """img_to_img_flow adds no noise and inverts the result: one euler step to 0 from the latent gives 1 - x0;
    eps adds sigma * noise (sqrt(1 + sigma^2) from the table's top)."""
    from nodes.runtime.sampling import sampler_object

    latent, noise = torch.full((1, 4, 2, 2), 0.25), torch.ones(1, 4, 2, 2)
    seen = []

    def denoiser(x, sigma, **kwargs):
        seen.append(x.clone())
        return torch.full_like(x, 0.75)

    flow = ModelSamplingDiscrete().patch(model, "img_to_img_flow", False)[0].schedule
    out = sampler_object("euler").sample(denoiser, flow, torch.tensor([5.0, 0.0]), latent, noise, 0)
    torch.testing.assert_close(seen[0], latent)
    torch.testing.assert_close(out, torch.full_like(latent, 0.25))  # 1 - 0.75
    top = float(model.schedule.sigma_max)
    sampler_object("euler").sample(denoiser, model.schedule, torch.tensor([top, 0.0]), latent, noise, 0)
    torch.testing.assert_close(seen[1], latent + noise * math.sqrt(1 + top ** 2))
