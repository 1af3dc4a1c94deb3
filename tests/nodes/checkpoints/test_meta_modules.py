"""Filling a module built on meta: the file's tensors become its weights as they are (no copy), and a module that
customises how its state is loaded still gets its say."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nodes.runtime.checkpoints import CheckpointError
from nodes.runtime.checkpoints.meta_modules import empty_module, fill_module, meta_tensors

PATH = Path("model.safetensors")


class Scaled(torch.nn.Module):
    """A linear layer and a persistent buffer, nested one level down."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = torch.nn.Sequential(torch.nn.Linear(3, 2))
        self.register_buffer("scale", torch.ones(2))


def weights() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"inner.0.weight": torch.randn(2, 3, generator=generator),
            "inner.0.bias": torch.randn(2, generator=generator), "scale": torch.randn(2, generator=generator)}


def fill(module: torch.nn.Module, given: dict[str, torch.Tensor]) -> torch.nn.Module:
    return fill_module(module, given, component="test model", path=PATH, device=torch.device("cpu"))


def test_the_given_tensors_become_the_weights_without_a_copy_frozen_and_in_eval_mode():
    given = weights()
    module = fill(empty_module(Scaled).train(), given)

    reference = Scaled()
    reference.load_state_dict(given)
    assert module.state_dict().keys() == reference.state_dict().keys()
    for key, value in module.state_dict().items():
        assert value.data_ptr() == given[key].data_ptr(), f"{key} was copied"
        assert torch.equal(value, reference.state_dict()[key])
    assert isinstance(module.inner[0].weight, torch.nn.Parameter) and isinstance(module.scale, torch.Tensor)
    assert not any(parameter.requires_grad for parameter in module.parameters())
    assert not module.training and not module.inner.training
    assert meta_tensors(module) == []
    assert torch.equal(module.inner(torch.ones(1, 3)), reference.inner(torch.ones(1, 3)))


def test_a_module_that_changes_its_state_while_loading_it_is_loaded_its_own_way():
    """Modules that convert older layouts as they load (pre-hooks, their own _load_from_state_dict) keep doing so."""
    given = weights()
    module = empty_module(Scaled)

    def doubled_scale(_module, state_dict, prefix, *_):
        state_dict[prefix + "scale"] = state_dict[prefix + "scale"] * 2

    module.register_load_state_dict_pre_hook(doubled_scale)
    module = fill(module, given)

    assert torch.equal(module.scale, given["scale"] * 2)
    assert torch.equal(module.inner[0].weight, given["inner.0.weight"])


@pytest.mark.parametrize("change, message", [
    (lambda given: given.pop("inner.0.bias"), "the test model lacks 1 of its 3 weights"),
    (lambda given: given.update(scale=torch.ones(3)), "the test model weight 'scale' has shape"),
])
def test_missing_or_misshapen_weights_are_named_for_the_user(change, message):
    given = weights()
    change(given)
    module = empty_module(Scaled)
    with pytest.raises(CheckpointError, match=message) as raised:
        fill(module, given)
    assert str(PATH) in str(raised.value)
