"""AlignYourSteps and OptimalSteps: the published table as is, stretched log-linearly, and cut by denoise."""
from __future__ import annotations

import numpy as np
import pytest

from nodes.custom_sampling.align_your_steps import AYS_NOISE_LEVELS, AlignYourStepsScheduler
from nodes.custom_sampling.optimal_steps import OPTIMAL_NOISE_LEVELS, OptimalStepsScheduler


def test_ten_ays_steps_are_the_published_table_ending_in_zero():
    got, = AlignYourStepsScheduler().get_sigmas("SD1", 10, 1.0)
    np.testing.assert_allclose(got.numpy(), list(AYS_NOISE_LEVELS["SD1"][:-1]) + [0.0], rtol=1e-7)


def test_twenty_ays_steps_put_a_log_midpoint_between_each_published_pair():
    got, = AlignYourStepsScheduler().get_sigmas("SDXL", 20, 1.0)
    levels = np.array(AYS_NOISE_LEVELS["SDXL"])
    expected = np.empty(21)
    expected[0::2] = levels
    expected[1::2] = np.sqrt(levels[:-1] * levels[1:])  # geometric mean = log-linear midpoint
    expected[-1] = 0
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_five_ays_steps_interpolate_at_quarter_points_of_the_table():
    got, = AlignYourStepsScheduler().get_sigmas("SD1", 5, 1.0)
    logs = np.log(AYS_NOISE_LEVELS["SD1"])
    # 6 points over the 11-entry table: positions 0, 2, 4, 6, 8, 10 exactly
    np.testing.assert_allclose(got.numpy()[:-1], np.exp(logs[[0, 2, 4, 6, 8]]), rtol=1e-6)
    assert float(got[-1]) == 0


@pytest.mark.parametrize("node, table, name", [(AlignYourStepsScheduler, AYS_NOISE_LEVELS, "SD1"),
                                               (OptimalStepsScheduler, OPTIMAL_NOISE_LEVELS, "FLUX")])
def test_denoise_keeps_the_last_rounded_fraction_of_steps(node, table, name):
    full, = node().get_sigmas(name, 10, 1.0)
    half, = node().get_sigmas(name, 10, 0.46)  # round(4.6) = 5 steps
    np.testing.assert_allclose(half.numpy(), full.numpy()[-6:])
    assert len(node().get_sigmas(name, 10, 0.0)[0]) == 0


def test_optimal_steps_for_wan_at_its_table_length():
    got, = OptimalStepsScheduler().get_sigmas("Wan", 20, 1.0)
    np.testing.assert_allclose(got.numpy(), list(OPTIMAL_NOISE_LEVELS["Wan"][:-1]) + [0.0], rtol=1e-7)
