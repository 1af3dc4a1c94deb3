"""Sigma schedules against formulas written independently here and, where the method is the same, diffusers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import EulerDiscreteScheduler
from scipy.special import betaincinv

from nodes.runtime.sampling import DISCARD_PENULTIMATE_SIGMA, SCHEDULERS, ksampler_sigmas
from tests.nodes.sampling.toy_models import SD_CONFIG

# diffusers' schedulers trip numpy 2 deprecations on torch tensors; not ours to fix, and they drown the output.
pytestmark = pytest.mark.filterwarnings("ignore:__array:DeprecationWarning", "ignore:Should have:UserWarning")


def table(schedule) -> np.ndarray:
    return schedule.sigmas.double().numpy()


def sigma_at(schedule, t: np.ndarray) -> np.ndarray:
    """Log-sigma linear interpolation at fractional training timesteps."""
    return np.exp(np.interp(t, np.arange(1000), np.log(table(schedule))))


def diffusers_sigmas(steps: int, **config) -> np.ndarray:
    sched = EulerDiscreteScheduler.from_config({**SD_CONFIG, **config})
    sched.set_timesteps(steps)
    return sched.sigmas.double().numpy()


@pytest.mark.parametrize("steps", [1, 7, 20])
def test_normal_spaces_timesteps_evenly_from_last_to_first(schedule, steps):
    t = 999.0 * (1 - np.arange(steps) / max(steps - 1, 1)) if steps > 1 else np.array([999.0])
    expected = np.append(sigma_at(schedule, t), 0.0)
    np.testing.assert_allclose(SCHEDULERS["normal"](schedule, steps).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("steps", [7, 20])
def test_sgm_uniform_leaves_out_the_first_timestep(schedule, steps):
    t = 999.0 - np.arange(steps) * 999.0 / steps
    expected = np.append(sigma_at(schedule, t), 0.0)
    np.testing.assert_allclose(SCHEDULERS["sgm_uniform"](schedule, steps).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("name", ["normal", "sgm_uniform"])
def test_evenly_spaced_timesteps_give_comfyuis_sigmas_bit_for_bit(schedule, name):
    """ComfyUI computes each timestep's sigma by itself; ours computes them in one call, which must not change a bit."""
    start, end = schedule.timestep(schedule.sigma_max), schedule.timestep(schedule.sigma_min)
    for steps in range(1, 80):
        timesteps = torch.linspace(start, end, steps + 1)[:-1] if name == "sgm_uniform" else \
            torch.linspace(start, end, steps)
        one_by_one = torch.tensor([float(schedule.sigma(t)) for t in timesteps] + [0.0], dtype=torch.float32)
        assert torch.equal(SCHEDULERS[name](schedule, steps), one_by_one), steps


@pytest.mark.parametrize("steps", [7, 20, 30])
def test_simple_takes_every_kth_table_entry_rounding_down(schedule, steps):
    idx = 999 - np.floor(np.arange(steps) * 1000 / steps).astype(int)
    expected = np.append(table(schedule)[idx], 0.0)
    np.testing.assert_allclose(SCHEDULERS["simple"](schedule, steps).numpy(), expected, rtol=0, atol=0)


def test_simple_is_diffusers_trailing_spacing_when_steps_divide_1000(schedule):
    np.testing.assert_allclose(SCHEDULERS["simple"](schedule, 20).numpy(),
                               diffusers_sigmas(20, timestep_spacing="trailing"), rtol=2e-5)


def test_simple_and_diffusers_trailing_round_differently_otherwise(schedule):
    ours = SCHEDULERS["simple"](schedule, 30).numpy()
    assert not np.allclose(ours, diffusers_sigmas(30, timestep_spacing="trailing"), rtol=1e-4)


@pytest.mark.parametrize("steps, count", [(20, 20), (30, 31), (7, 8)])
def test_ddim_uniform_picks_1_plus_multiples_of_1000_div_steps(schedule, steps, count):
    """With 30 steps the stride is 33 and ComfyUI runs 31 steps (7 give 8); kept, since images depend on it."""
    idx = np.arange(1, 1000, 1000 // steps)[::-1]
    sigmas = SCHEDULERS["ddim_uniform"](schedule, steps).numpy()
    np.testing.assert_allclose(sigmas, np.append(table(schedule)[idx], 0.0), rtol=0, atol=0)
    assert len(sigmas) == count + 1


@pytest.mark.parametrize("steps", [2, 10, 25])
def test_karras_formula_and_diffusers(schedule, steps):
    smin, smax, rho = float(schedule.sigma_min), float(schedule.sigma_max), 7.0
    ramp = np.linspace(0, 1, steps)
    expected = np.append((smax ** (1 / rho) + ramp * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho, 0.0)
    ours = SCHEDULERS["karras"](schedule, steps).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5)
    np.testing.assert_allclose(ours, diffusers_sigmas(steps, use_karras_sigmas=True), rtol=2e-5)


@pytest.mark.parametrize("steps", [2, 10, 25])
def test_exponential_formula_and_diffusers(schedule, steps):
    smin, smax = float(schedule.sigma_min), float(schedule.sigma_max)
    expected = np.append(np.exp(np.linspace(np.log(smax), np.log(smin), steps)), 0.0)
    ours = SCHEDULERS["exponential"](schedule, steps).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5)
    np.testing.assert_allclose(ours, diffusers_sigmas(steps, use_exponential_sigmas=True), rtol=2e-5)


@pytest.mark.parametrize("steps", [5, 20, 600])
def test_beta_takes_timesteps_at_beta_quantiles_without_repeats(schedule, steps):
    q = 1 - np.arange(steps) / steps
    t = np.rint(betaincinv(0.6, 0.6, q) * 999).astype(int)
    t = t[np.insert(np.diff(t) != 0, 0, True)]
    ours = SCHEDULERS["beta"](schedule, steps).numpy()
    np.testing.assert_allclose(ours, np.append(table(schedule)[t], 0.0), rtol=0, atol=0)
    if steps == 600:
        assert len(ours) < steps + 1  # repeats merged: fewer steps than asked


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
@pytest.mark.parametrize("steps", [1, 3, 20])
def test_every_schedule_descends_to_zero_within_the_table(schedule, name, steps):
    sigmas = SCHEDULERS[name](schedule, steps)
    assert sigmas.dtype == torch.float32
    assert sigmas[-1] == 0 and (sigmas[:-1] > 0).all()
    assert (sigmas[1:] < sigmas[:-1]).all()
    assert float(sigmas[0]) <= float(schedule.sigma_max) * (1 + 1e-6)
    if name not in ("ddim_uniform", "beta"):
        assert len(sigmas) == steps + 1


def test_denoise_runs_the_last_steps_of_a_longer_schedule(schedule):
    full = SCHEDULERS["karras"](schedule, 20)
    torch.testing.assert_close(ksampler_sigmas(schedule, "karras", 10, denoise=0.5), full[-11:])
    longer = SCHEDULERS["normal"](schedule, int(10 / 0.3))  # 33, rounded down
    torch.testing.assert_close(ksampler_sigmas(schedule, "normal", 10, denoise=0.3), longer[-11:])
    torch.testing.assert_close(ksampler_sigmas(schedule, "normal", 10, denoise=1.0), SCHEDULERS["normal"](schedule, 10))
    assert len(ksampler_sigmas(schedule, "normal", 10, denoise=0.0)) == 0


@pytest.mark.parametrize("sampler", sorted(DISCARD_PENULTIMATE_SIGMA))
def test_some_samplers_drop_the_last_nonzero_sigma_of_a_longer_schedule(schedule, sampler):
    longer = SCHEDULERS["karras"](schedule, 11)
    sigmas = ksampler_sigmas(schedule, "karras", 10, sampler=sampler)
    torch.testing.assert_close(sigmas, torch.cat([longer[:-2], longer[-1:]]))
    assert len(sigmas) == 11
    assert len(ksampler_sigmas(schedule, "karras", 10, sampler="euler")) == 11
