"""The SIGMAS tools on small hand-written lists."""
from __future__ import annotations

import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.custom_sampling import sigmas as nodes_
from tests.nodes.custom_sampling.conftest import table

S = torch.tensor([10.0, 5.0, 2.0, 1.0, 0.0])


def values(t: torch.Tensor) -> list[float]:
    return [round(v, 6) for v in t.tolist()]


def test_split_sigmas_shares_the_split_sigma():
    high, low = nodes_.SplitSigmas().get_sigmas(S, 2)
    assert values(high) == [10, 5, 2] and values(low) == [2, 1, 0]
    high, low = nodes_.SplitSigmas().get_sigmas(S, 0)
    assert values(high) == [10] and values(low) == values(S)


def test_split_sigmas_denoise_gives_the_low_part_the_last_fraction_of_steps():
    high, low = nodes_.SplitSigmasDenoise().get_sigmas(S, 0.5)  # 4 steps: the last 2 low, sharing sigma 2
    assert values(high) == [10, 5, 2] and values(low) == [2, 1, 0]
    high, low = nodes_.SplitSigmasDenoise().get_sigmas(S, 0.0)  # ComfyUI's slicing: high is empty as well
    assert values(high) == [] and values(low) == [0]
    high, low = nodes_.SplitSigmasDenoise().get_sigmas(S, 1.0)
    assert values(high) == [10] and values(low) == values(S)


def test_flip_sigmas_reverses_and_lifts_a_first_zero():
    flipped, = nodes_.FlipSigmas().get_sigmas(S)
    assert values(flipped) == [0.0001, 1, 2, 5, 10] and values(S) == [10, 5, 2, 1, 0]
    assert len(nodes_.FlipSigmas().get_sigmas(torch.zeros(0))[0]) == 0


def test_set_first_sigma_changes_a_copy():
    got, = nodes_.SetFirstSigma().set_first_sigma(S, 136.0)
    assert values(got) == [136, 5, 2, 1, 0] and float(S[0]) == 10
    with pytest.raises(InvalidNodeInput, match="empty"):
        nodes_.SetFirstSigma().set_first_sigma(torch.zeros(0), 1.0)


def test_extend_intermediate_sigmas_splits_steps_within_the_range():
    got, = nodes_.ExtendIntermediateSigmas().extend(S, 2, -1.0, 5.0, "linear")  # steps starting at 10 and 5
    assert values(got) == [10, 7.5, 5, 3.5, 2, 1, 0]
    got, = nodes_.ExtendIntermediateSigmas().extend(S, 3, 6.0, 1.0, "linear")  # steps starting at 5, 2 and 1
    assert values(got) == pytest.approx([10, 5, 4, 3, 2, 5 / 3, 4 / 3, 1, 2 / 3, 1 / 3, 0], abs=1e-5)
    got, = nodes_.ExtendIntermediateSigmas().extend(torch.tensor([4.0, 0.0]), 2, -1.0, 0.0, "cosine")
    assert values(got) == pytest.approx([4, 4 - 4 * 0.5 ** 0.5, 0], abs=1e-5)  # sin(pi / 4) of the way
    got, = nodes_.ExtendIntermediateSigmas().extend(torch.tensor([4.0, 0.0]), 2, -1.0, 0.0, "sine")
    assert values(got) == pytest.approx([4, 4 * 0.5 ** 0.5, 0], abs=1e-5)  # 1 - cos(pi / 4) of the way


def test_manual_sigmas_reads_every_number():
    got, = nodes_.ManualSigmas().get_sigmas("14.6, 7,  .5 -1 junk 0")
    assert values(got) == [14.6, 7, 0.5, -1, 0] and got.dtype == torch.float32


def test_sampling_percent_to_sigma(model):
    node = nodes_.SamplingPercentToSigma()
    sigmas = table()
    assert node.get_sigma(model, 0.0, False)[0] == 999999999.9 and node.get_sigma(model, 1.0, False)[0] == 0.0
    assert node.get_sigma(model, 0.0, True)[0] == pytest.approx(sigmas[999], rel=1e-6)
    assert node.get_sigma(model, 1.0, True)[0] == pytest.approx(sigmas[0], rel=1e-6)
    # 25% in: timestep 0.75 * 999 = 749.25, log-sigma interpolated between 749 and 750
    expected = float(torch.tensor(sigmas[749]).log().lerp(torch.tensor(sigmas[750]).log(), 0.25).exp())
    assert node.get_sigma(model, 0.25, False)[0] == pytest.approx(expected, rel=1e-5)


def test_a_sigmas_input_that_is_not_a_1d_tensor_is_refused():
    with pytest.raises(InvalidNodeInput, match="sigmas must be SIGMAS"):
        nodes_.SplitSigmas().get_sigmas([1.0, 0.0], 1)
