"""ComfyUI's conditioning transforms: the entries and options they produce, computed by hand here."""
from __future__ import annotations

import logging

import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.diffusion.conditioning import (ConditioningAverage, ConditioningConcat, ConditioningSetAreaPercentage,
                                          ConditioningSetAreaStrength, ConditioningSetMask,
                                          ConditioningSetTimestepRange, ConditioningZeroOut)
from tests.nodes.conditioning.cond_helpers import entry, make_engine, run_graph


def test_average_blends_token_by_token_and_pads_the_shorter_source_with_zeros():
    to = [entry(2.0, tokens=4, pooled_output=torch.tensor([[1.0, 3.0]]), strength=0.5)]
    source = [[torch.arange(2 * 4, dtype=torch.float32).reshape(1, 2, 4), {"pooled_output": torch.tensor([[5.0, 7.0]])}]]
    (out,) = ConditioningAverage().addWeighted(to, source, 0.25)
    expected = torch.full((1, 4, 4), 2.0 * 0.25)
    expected[0, :2] += torch.arange(8, dtype=torch.float32).reshape(2, 4) * 0.75  # tokens 3 and 4: zeros from `source`
    assert torch.allclose(out[0][0], expected)
    assert torch.allclose(out[0][1]["pooled_output"], torch.tensor([[1.0 * 0.25 + 5.0 * 0.75, 3.0 * 0.25 + 7.0 * 0.75]]))
    assert out[0][1]["strength"] == 0.5  # other options stay
    assert torch.equal(to[0][0], torch.full((1, 4, 4), 2.0))  # the input is left as it was


def test_average_cuts_a_longer_source_and_takes_its_pooled_output_where_the_target_has_none():
    to = [entry(1.0, tokens=2)]
    source = [entry(3.0, tokens=5, pooled_output=torch.tensor([[9.0]]))]
    (out,) = ConditioningAverage().addWeighted(to, source, 0.5)
    assert torch.allclose(out[0][0], torch.full((1, 2, 4), 2.0))
    assert torch.equal(out[0][1]["pooled_output"], torch.tensor([[9.0]]))


def test_average_and_concat_apply_only_the_first_source_entry_and_say_so(caplog):
    to = [entry(1.0), entry(5.0)]
    source = [entry(3.0, tokens=2), entry(100.0)]
    with caplog.at_level(logging.WARNING):
        (averaged,) = ConditioningAverage().addWeighted(to, source, 0.5)
        (joined,) = ConditioningConcat().concat(to, source)
    assert "only the first" in caplog.text
    assert [float(t[0, 0, 0]) for t, _ in averaged] == [2.0, 4.0]
    assert [float(t[0, -1, 0]) for t, _ in averaged] == [0.5, 2.5]  # the third token: half of the zero padding
    assert [tuple(t.shape) for t, _ in joined] == [(1, 5, 4), (1, 5, 4)]
    assert torch.equal(joined[1][0], torch.cat([torch.full((1, 3, 4), 5.0), torch.full((1, 2, 4), 3.0)], dim=1))


def test_average_and_concat_refuse_an_empty_source_or_another_models_width():
    with pytest.raises(InvalidNodeInput, match="conditioning_from is empty"):
        ConditioningConcat().concat([entry(1.0)], [])
    with pytest.raises(InvalidNodeInput, match="same model's CLIP"):
        ConditioningAverage().addWeighted([entry(1.0, width=4)], [entry(1.0, width=8)], 0.5)


def test_zero_out_zeroes_the_tensors_and_keeps_the_other_options():
    mask = torch.ones(1, 2, 2)
    cond = [entry(3.0, pooled_output=torch.ones(1, 2), conditioning_scale=torch.ones(1), mask=mask, strength=2.0)]
    (out,) = ConditioningZeroOut().zero_out(cond)
    tensor, options = out[0]
    assert torch.equal(tensor, torch.zeros(1, 3, 4))
    assert torch.equal(options["pooled_output"], torch.zeros(1, 2))
    assert torch.equal(options["conditioning_scale"], torch.zeros(1))
    assert options["mask"] is mask and options["strength"] == 2.0
    assert float(cond[0][1]["pooled_output"].sum()) == 2.0


def test_area_percentage_strength_and_timestep_range_set_comfyuis_options():
    cond = [entry(1.0, area=(8, 8, 0, 0))]
    (area,) = ConditioningSetAreaPercentage().append(cond, width=0.5, height=0.25, x=0.1, y=0.75, strength=2.5)
    assert area[0][1] == {"area": ("percentage", 0.25, 0.5, 0.75, 0.1), "strength": 2.5, "set_area_to_bounds": False}
    (strong,) = ConditioningSetAreaStrength().append(cond, 0.3)
    assert strong[0][1] == {"area": (8, 8, 0, 0), "strength": 0.3}
    (timed,) = ConditioningSetTimestepRange().set_range(cond, 0.2, 0.7)
    assert timed[0][1] == {"area": (8, 8, 0, 0), "start_percent": 0.2, "end_percent": 0.7}
    assert cond[0][1] == {"area": (8, 8, 0, 0)}


@pytest.mark.parametrize("set_cond_area, bounds", [("default", False), ("mask bounds", True)])
def test_set_mask_stores_a_batched_mask_and_its_strength(set_cond_area, bounds):
    mask = torch.zeros(16, 24)
    (out,) = ConditioningSetMask().append([entry(1.0), entry(2.0)], mask, set_cond_area, 0.6)
    for _, options in out:
        assert options["mask"].shape == (1, 16, 24)
        assert options["set_area_to_bounds"] is bounds and options["mask_strength"] == 0.6
        assert "strength" not in options


def test_set_mask_refuses_what_is_not_a_mask():
    with pytest.raises(InvalidNodeInput, match="mask must be a MASK"):
        ConditioningSetMask().append([entry(1.0)], torch.zeros(1, 1, 4, 4), "default", 1.0)


def test_the_transforms_chain_through_the_engine(tmp_path):
    engine = make_engine(tmp_path)
    nodes = {
        "avg": {"class_type": "ConditioningAverage",
                "inputs": {"conditioning_to": ["a", 0], "conditioning_from": ["b", 0], "conditioning_to_strength": 0.75}},
        "cat": {"class_type": "ConditioningConcat", "inputs": {"conditioning_to": ["avg", 0], "conditioning_from": ["b", 0]}},
        "mask": {"class_type": "ConditioningSetMask",
                 "inputs": {"conditioning": ["cat", 0], "mask": ["m", 1], "strength": 0.5, "set_cond_area": "mask bounds"}},
        "range": {"class_type": "ConditioningSetTimestepRange",
                  "inputs": {"conditioning": ["mask", 0], "start": 0.25, "end": 0.5}},
        "zero": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["range", 0]}},
    }
    feeds = {"a": [entry(4.0, tokens=2)], "b": [entry(8.0, tokens=1)], "m": torch.ones(1, 8, 8)}
    (ranged,) = run_graph(engine, nodes, feeds, ["range", 0])
    expected = torch.tensor([4.0 * 0.75 + 8.0 * 0.25, 4.0 * 0.75, 8.0]).view(1, 3, 1).expand(1, 3, 4)
    assert torch.allclose(ranged[0], expected)
    assert ranged[1]["start_percent"] == 0.25 and ranged[1]["end_percent"] == 0.5
    assert ranged[1]["mask_strength"] == 0.5 and ranged[1]["set_area_to_bounds"] is True
    (zeroed,) = run_graph(engine, nodes, feeds, ["zero", 0])
    assert torch.equal(zeroed[0], torch.zeros(1, 3, 4))
