"""The SD noise table, sigma <-> timestep conversion and the eps / v denoiser, against formulas written here."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import EulerDiscreteScheduler

from nodes.runtime.sampling import Denoiser, sd_schedule
from tests.nodes.sampling.toy_models import SD_CONFIG

# diffusers' schedulers trip numpy 2 deprecations on torch tensors; not ours to fix, and they drown the output.
pytestmark = pytest.mark.filterwarnings("ignore:__array:DeprecationWarning", "ignore:Should have:UserWarning")


def reference_sigmas() -> np.ndarray:
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float64) ** 2
    abar = np.cumprod(1.0 - betas)
    return np.sqrt((1.0 - abar) / abar)


def test_the_table_is_the_scaled_linear_sd_schedule(schedule):
    ref = reference_sigmas()
    np.testing.assert_allclose(schedule.sigmas.numpy(), ref, rtol=1e-6)
    assert schedule.sigmas.dtype == torch.float32 and len(schedule.sigmas) == 1000
    assert float(schedule.sigma_min) == pytest.approx(0.0291675, abs=1e-6)
    assert float(schedule.sigma_max) == pytest.approx(14.614642, abs=1e-5)


def test_the_table_agrees_with_diffusers_float32_schedule(schedule):
    sched = EulerDiscreteScheduler.from_config(SD_CONFIG)
    abar = sched.alphas_cumprod.double()
    np.testing.assert_allclose(schedule.sigmas.numpy(), (((1 - abar) / abar) ** 0.5).numpy(), rtol=2e-5)


def test_timestep_of_a_table_sigma_is_its_index(schedule):
    assert torch.equal(schedule.timestep(schedule.sigmas), torch.arange(1000))


def test_timestep_rounds_to_the_nearest_log_sigma(schedule):
    between = (schedule.log_sigmas[10] * 0.4 + schedule.log_sigmas[11] * 0.6).exp()
    assert int(schedule.timestep(between.reshape(1))) == 11
    assert int(schedule.timestep(torch.tensor([100.0]))) == 999  # beyond the table: the end


def test_sigma_interpolates_log_sigma_between_integer_timesteps(schedule):
    t = torch.tensor([0.0, 10.25, 998.5, 999.0, 1500.0])
    log_ref = np.log(reference_sigmas())
    expected = [log_ref[0], 0.75 * log_ref[10] + 0.25 * log_ref[11], 0.5 * log_ref[998] + 0.5 * log_ref[999],
                log_ref[999], log_ref[999]]
    np.testing.assert_allclose(schedule.sigma(t).log().numpy(), expected, rtol=1e-6)


def test_percent_to_sigma(schedule):
    assert schedule.percent_to_sigma(0.0) > 1e8
    assert schedule.percent_to_sigma(1.0) == 0.0
    assert schedule.percent_to_sigma(0.5) == pytest.approx(float(schedule.sigma(torch.tensor(499.5))), rel=1e-6)


def test_a_different_beta_range_gives_a_different_table():
    assert not torch.allclose(sd_schedule(0.0001, 0.02).sigmas, sd_schedule().sigmas)


class Oracle(torch.nn.Module):
    """A 'UNet' that knows x0 and the noise, and records what it was fed."""

    def __init__(self, x0, eps, kind):
        super().__init__()
        self.x0, self.eps, self.kind, self.seen = x0, eps, kind, []

    def forward(self, x_in, t):
        self.seen.append((x_in, t))
        sigma = torch.tensor(reference_sigmas()[t.long().numpy()], dtype=torch.float32).view(-1, 1, 1, 1)
        if self.kind == "epsilon":
            return self.eps
        alpha, sigma_vp = 1 / (1 + sigma ** 2) ** 0.5, sigma / (1 + sigma ** 2) ** 0.5
        return alpha * self.eps - sigma_vp * self.x0  # v = alpha * eps - sigma_vp * x0


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction"])
def test_the_denoiser_recovers_x0_from_a_perfect_prediction(schedule, kind):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)
    sigma = schedule.sigmas[torch.tensor([500, 999])]
    x = x0 + sigma.view(-1, 1, 1, 1) * eps
    oracle = Oracle(x0, eps, kind)
    torch.testing.assert_close(Denoiser(oracle, schedule, kind)(x, sigma), x0, atol=2e-5, rtol=0)
    x_in, t = oracle.seen[0]
    assert t.tolist() == [500.0, 999.0]
    torch.testing.assert_close(x_in, x / (1 + sigma.view(-1, 1, 1, 1) ** 2) ** 0.5)


def test_the_denoiser_passes_extra_arguments_to_the_model(schedule):
    seen = {}

    def model(x, t, **kwargs):
        seen.update(kwargs)
        return torch.zeros_like(x)

    Denoiser(model, schedule)(torch.zeros(1, 4, 2, 2), torch.tensor([1.0]), cond="a cat")
    assert seen == {"cond": "a cat"}


def test_an_unknown_prediction_type_is_refused(schedule):
    with pytest.raises(ValueError, match="prediction_type"):
        Denoiser(lambda x, t: x, schedule, "x0")
