"""ConditioningMultiply through the engine: hidden states and pooled outputs scaled, other options and the input
left as they were."""
from __future__ import annotations

import torch

from tests.nodes.conditioning.cond_helpers import entry, make_engine, run_graph


def test_multiply_scales_each_entry_and_its_pooled_output(tmp_path):
    pooled = torch.tensor([[1.0, -2.0]])
    cond = [entry(2.0, pooled_output=pooled, strength=0.7), entry(-1.0, tokens=5, start_percent=0.2)]
    out = run_graph(make_engine(tmp_path),
                    {"mul": {"class_type": "ConditioningMultiply",
                             "inputs": {"conditioning": ["c", 0], "multiplier": -1.5}}},
                    {"c": cond}, ["mul", 0])
    assert len(out) == 2
    torch.testing.assert_close(out[0][0], torch.full((1, 3, 4), -3.0))
    torch.testing.assert_close(out[0][1]["pooled_output"], torch.tensor([[-1.5, 3.0]]))
    assert out[0][1]["strength"] == 0.7
    torch.testing.assert_close(out[1][0], torch.full((1, 5, 4), 1.5))
    assert out[1][1] == {"start_percent": 0.2}  # no pooled output: none added
    torch.testing.assert_close(cond[0][0], torch.full((1, 3, 4), 2.0))  # the input is untouched
    assert cond[0][1]["pooled_output"] is pooled and torch.equal(pooled, torch.tensor([[1.0, -2.0]]))
