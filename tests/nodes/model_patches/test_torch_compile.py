"""TorchCompileModel: the UNet's forward runs through torch.compile with the chosen backend during a guider's step
(a small analytic UNet and a recording backend keep it to seconds on the CPU), the shared module is left as it was,
and a failing compile names the backend and what to do."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.model_patches.torch_compile import TorchCompileModel
from nodes.runtime.guiders import CFGGuider
from nodes.runtime.models import DiffusionModel
from nodes.runtime.models.compiled_unet import COMPILE_KEY, set_torch_compile_wrapper
from nodes.runtime.models.wrappers import with_predict_noise_wrappers


class AffineUNet(torch.nn.Module):
    """eps = conv_in(x) (1 + t / 1000) + the context's mean: a UNet's interface in one small graph."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_in = torch.nn.Conv2d(4, 4, 1)
        self.config = SimpleNamespace(in_channels=4, addition_embed_type=None)

    def forward(self, x, t, context, added_cond=None, class_labels=None):
        scale = (1 + t.float() / 1000).view(-1, 1, 1, 1)
        return self.conv_in(x) * scale + context.mean(dim=(1, 2)).view(-1, 1, 1, 1)


@pytest.fixture
def affine_model() -> DiffusionModel:
    torch.manual_seed(0)
    return DiffusionModel(AffineUNet(), "SD1.x", "epsilon", "affine")


def step(model: DiffusionModel) -> torch.Tensor:
    guider = CFGGuider(model, [[torch.ones(1, 3, 8), {}]])
    x = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(3))
    return with_predict_noise_wrappers(guider, guider.denoiser())(x, torch.tensor([2.0]))


def test_the_step_runs_the_compiled_unet_with_the_chosen_backend(affine_model):
    graphs = []

    def recording_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    compiled = affine_model.clone()
    set_torch_compile_wrapper(compiled, recording_backend)
    torch.testing.assert_close(step(compiled), step(affine_model))
    assert len(graphs) == 1 and any(node.op == "call_module" or "conv" in str(node.target)
                                    for node in graphs[0].graph.nodes)
    assert compiled.unet is affine_model.unet and type(affine_model.unet) is AffineUNet  # shared module as it was
    step(compiled)
    assert len(graphs) == 1  # compiled once, reused


def test_a_failing_compile_names_the_backend(affine_model):
    def broken_backend(graph_module, example_inputs):
        raise RuntimeError("no compiler here")

    compiled = affine_model.clone()
    set_torch_compile_wrapper(compiled, broken_backend)
    with pytest.raises(InvalidNodeInput, match="backend 'broken_backend' failed on affine's UNet"):
        step(compiled)
    assert type(compiled.unet) is AffineUNet


def test_the_node_sets_one_compile_wrapper_on_a_clone(affine_model):
    patched, = TorchCompileModel().patch(affine_model, "inductor")
    again, = TorchCompileModel().patch(patched, "cudagraphs")
    assert "wrappers" not in affine_model.model_options["transformer_options"]
    assert list(again.model_options["transformer_options"]["wrappers"]["predict_noise"]) == [COMPILE_KEY]
    assert len(again.model_options["transformer_options"]["wrappers"]["predict_noise"][COMPILE_KEY]) == 1
