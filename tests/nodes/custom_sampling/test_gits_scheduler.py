"""GITSScheduler through the engine: the published row for 2 to 20 steps, the 20-step row stretched log-linearly
beyond, denoise keeping the last steps, and a coefficient without a table refused."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nodes.custom_sampling.gits_noise_levels import GITS_NOISE_LEVELS
from tests.nodes.latent.latent_helpers import Runner, make_engine


@pytest.fixture
def runner(tmp_path) -> Runner:
    return Runner(make_engine(tmp_path))


def gits(runner: Runner, coeff: float, steps: int, denoise: float = 1.0) -> np.ndarray:
    return runner.run("GITSScheduler", {"coeff": coeff, "steps": steps, "denoise": denoise}).numpy()


def test_the_table_has_a_row_per_step_count_for_each_coefficient():
    assert sorted(GITS_NOISE_LEVELS) == pytest.approx([0.8 + 0.05 * k for k in range(15)])
    for rows in GITS_NOISE_LEVELS.values():
        assert [len(row) for row in rows] == [steps + 1 for steps in range(2, 21)]
        assert all(list(row) == sorted(row, reverse=True) for row in rows)
        assert all(row[0] == 14.61464119 and row[-1] == 0.02916753 for row in rows)  # SD1's sigma_max and min


@pytest.mark.parametrize("coeff, steps", [(1.2, 10), (0.8, 2), (1.5, 20), (1.05, 7)])
def test_up_to_20_steps_the_row_is_taken_as_published_ending_in_zero(runner, coeff, steps):
    got = gits(runner, coeff, steps)
    row = GITS_NOISE_LEVELS[coeff][steps - 2]
    assert got.dtype == np.float32 and len(got) == steps + 1
    np.testing.assert_allclose(got, list(row[:-1]) + [0.0], rtol=1e-7)


def test_beyond_20_steps_the_20_step_row_is_interpolated_in_log_sigma(runner):
    row = GITS_NOISE_LEVELS[0.9][-1]  # 21 levels at positions 0, 1/20, ... 1
    got = gits(runner, 0.9, 40)
    assert len(got) == 41
    for k in range(40):  # position k / 40 lies halfway between two table entries when k is odd
        low = k // 2
        if k % 2 == 0:
            expected = row[low]
        else:
            expected = math.sqrt(row[low] * row[low + 1])  # the geometric mean: the midpoint in log sigma
        assert got[k] == pytest.approx(expected, rel=1e-6)
    assert got[-1] == 0.0


def test_denoise_keeps_the_last_rounded_share_of_the_steps(runner):
    full = gits(runner, 1.2, 10)
    np.testing.assert_allclose(gits(runner, 1.2, 10, 0.46), full[-6:])  # round(4.6) = 5 steps
    assert len(gits(runner, 1.2, 10, 0.0)) == 0


def test_a_coefficient_without_a_table_is_refused_by_name(runner):
    result = runner.run_result("GITSScheduler", {"coeff": 1.23, "steps": 10, "denoise": 1.0})
    assert not result.ok and "coeff 1.23" in str(result.error)
