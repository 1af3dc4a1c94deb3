"""HypernetworkLoader: an A1111 .pt hypernetwork as attention patches; the patch against its nets written out here,
and sampling with it against diffusers' UNet whose attention applies the same maths through its own processors."""
from __future__ import annotations

import copy
import functools

import pytest
import torch
import torch.nn.functional as F

from graph_engine import using_folders
from nodes.runtime.checkpoints import CheckpointError
from nodes.runtime.hypernetworks import HypernetworkPatch, load_hypernetwork
from nodes.runtime.models import DiffusionModel
from nodes.runtime.models.unet_attention import Attention
from nodes.runtime.sample_latent import sample_latent
from nodes.vision.hypernetwork_nodes import HypernetworkLoader
from tests.fixtures.tiny_checkpoints import write_kohya_lora
from tests.fixtures.tiny_vision_models import save_hypernetwork, tiny_hypernetwork
from tests.nodes.latent.latent_helpers import make_engine


def net_output(layers: dict, x: torch.Tensor, layer_norm: bool = False) -> torch.Tensor:
    """Linear, ReLU, [norm], Linear, [norm], from the file's numbered layers."""
    names = sorted({key.rsplit(".", 1)[0] for key in layers}, key=lambda name: int(name.split(".")[1]))
    first, second = (names[0], names[2]) if layer_norm else (names[0], names[1])
    h = F.relu(x @ layers[f"{first}.weight"].t() + layers[f"{first}.bias"])
    if layer_norm:
        h = F.layer_norm(h, h.shape[-1:], layers[f"{names[1]}.weight"], layers[f"{names[1]}.bias"])
    h = h @ layers[f"{second}.weight"].t() + layers[f"{second}.bias"]
    if layer_norm:
        h = F.layer_norm(h, h.shape[-1:], layers[f"{names[3]}.weight"], layers[f"{names[3]}.bias"])
    return h


@pytest.mark.parametrize("layer_norm", [False, True])
def test_the_patch_adds_the_nets_to_key_and_value_of_known_widths(tmp_path, layer_norm):
    data = tiny_hypernetwork((16,), layer_norm=layer_norm)
    patch = HypernetworkPatch(load_hypernetwork(save_hypernetwork(data, tmp_path / "h.pt")), 0.7)
    generator = torch.Generator().manual_seed(3)
    n, context, value = (torch.randn(2, 5, 16, generator=generator) for _ in range(3))
    out_n, out_k, out_v = patch(n, context, value, {})
    assert out_n is n
    torch.testing.assert_close(out_k, context + net_output(data[16][0], context, layer_norm) * 0.7)
    torch.testing.assert_close(out_v, value + net_output(data[16][1], value, layer_norm) * 0.7)
    other = torch.randn(2, 5, 8, generator=generator)
    assert all(a is b for a, b in zip(patch(other, other, other, {}), (other, other, other)))


class HypernetworkAttention:
    """An attention computed with the hypernetwork applied to the key and value inputs (stands in for an attention
    module's forward, the module given first)."""

    def __init__(self, data: dict, strength: float) -> None:
        self.data = data
        self.strength = strength

    def __call__(self, attn, hidden_states, encoder_hidden_states=None):
        source = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        key_in = value_in = source
        if source.shape[-1] in self.data:
            key_in = source + net_output(self.data[source.shape[-1]][0], source) * self.strength
            value_in = source + net_output(self.data[source.shape[-1]][1], source) * self.strength
        heads = attn.heads

        def split(t):
            return t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(attn.to_q(hidden_states)), split(attn.to_k(key_in)),
                                             split(attn.to_v(value_in)))
        out = out.transpose(1, 2).reshape(hidden_states.shape[0], -1, heads * out.shape[-1])
        return attn.to_out[1](attn.to_out[0](out))


def test_sampling_with_the_loader_matches_the_same_maths_in_the_attention(tiny_sd1, tmp_path):
    data = tiny_hypernetwork((32, 64), seed=21)  # the tiny UNet's attention widths and its text width
    save_hypernetwork(data, tmp_path / "models" / "hypernetworks" / "tiny.pt")
    engine = make_engine(tmp_path)
    model = DiffusionModel(tiny_sd1.unet, "SD1.x", "epsilon", "tiny")
    with using_folders(engine.folders):
        assert HypernetworkLoader.INPUT_TYPES()["required"]["hypernetwork_name"][0] == ["tiny.pt"]
        (patched,) = HypernetworkLoader().load_hypernetwork(model, "tiny.pt", 0.8)
    assert not model.model_options["transformer_options"].get("patches")  # the input MODEL is left alone

    reference_unet = copy.deepcopy(tiny_sd1.unet)
    for module in reference_unet.modules():
        if isinstance(module, Attention):
            module.forward = functools.partial(HypernetworkAttention(data, 0.8), module)
    reference = DiffusionModel(reference_unet, "SD1.x", "epsilon", "reference")
    generator = torch.Generator().manual_seed(4)
    positive = [[torch.randn(1, 7, 64, generator=generator), {}]]
    negative = [[torch.randn(1, 7, 64, generator=generator), {}]]
    latent = {"samples": torch.zeros(1, 4, 8, 8)}

    def run(which):
        return sample_latent(which, latent, positive, negative, seed=5, steps=1, cfg=3.0, sampler_name="euler",
                             scheduler="normal")["samples"]

    got, expected, plain = run(patched), run(reference), run(model)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert (got - plain).abs().max() > 1e-2


def test_files_that_are_not_hypernetworks_are_named(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"state_dict": {"a": torch.zeros(2)}}, str(path))
    with pytest.raises(CheckpointError, match="not an A1111 hypernetwork: such files are .pt pickles"):
        load_hypernetwork(path)
    lora = write_kohya_lora(tmp_path / "lora.safetensors")
    with pytest.raises(CheckpointError, match="is a LoRA.*not a hypernetwork: put it in models/loras"):
        load_hypernetwork(lora)
    torch.save({**tiny_hypernetwork(), "activation_func": "gelu-approx"}, str(path))
    with pytest.raises(CheckpointError, match="activation 'gelu-approx'"):
        load_hypernetwork(path)
