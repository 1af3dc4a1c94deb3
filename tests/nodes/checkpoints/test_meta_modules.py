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


class Recording(torch.nn.Module):
    """A module whose `train` does more than set its flag (as some plugins' do): the fill must call it."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.register_buffer("position_ids", torch.arange(4).expand(1, -1), persistent=False)
        self.modes: list[bool] = []

    def train(self, mode: bool = True) -> "Recording":
        self.modes.append(mode)
        return super().train(mode)


def test_a_module_with_its_own_train_is_switched_to_eval_through_it_and_computed_buffers_are_rebuilt():
    module = empty_module(lambda: torch.nn.Sequential(Recording()))
    recording = module[0]
    assert recording.position_ids.is_meta
    given = {"0.linear.weight": torch.ones(2, 3), "0.linear.bias": torch.zeros(2)}

    fill(module, given)

    assert recording.modes == [False] and not recording.training and not recording.linear.training
    assert torch.equal(recording.position_ids, torch.arange(4).expand(1, -1))
    assert meta_tensors(module) == []


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


def test_modules_built_after_an_empty_one_are_initialised_as_usual_even_when_its_build_failed():
    """Building on meta switches torch's weight initialisation off for the build only: a plugin's own module built
    later (e.g. a trainable adapter) still gets its random initial values."""

    def failing_build() -> torch.nn.Module:
        torch.nn.Linear(3, 2)
        raise RuntimeError("a config the class refuses")

    empty_module(Scaled)
    with pytest.raises(RuntimeError, match="refuses"):
        empty_module(failing_build)
    assert all(getattr(torch.nn.init, name).__module__ == "torch.nn.init"
               for name in ("kaiming_uniform_", "uniform_", "normal_", "trunc_normal_", "zeros_", "ones_"))

    def seeded_linear(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return torch.nn.Linear(64, 64).weight.detach()

    assert torch.equal(seeded_linear(0), seeded_linear(0))  # values drawn from the seed, not left-over memory
    assert not torch.equal(seeded_linear(0), seeded_linear(1))
