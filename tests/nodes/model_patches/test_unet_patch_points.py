"""ComfyUI's UNet patch points, honoured by our UNet's block-by-block walk: without patches it is diffusers' forward
(of a diffusers UNet with the same weights); each patch point is checked against diffusers' own forward changed the
same way by other means (another context, a processor, a pre-hook, diffusers' ControlNet residual arguments)."""
from __future__ import annotations

import pytest
import torch

from nodes.runtime.guiders import CFGGuider
from nodes.runtime.models import DiffusionModel
from nodes.runtime.models.unet_forward import patched_unet_forward
from tests.fixtures.tiny_checkpoints import as_diffusers_unet, as_our_unet, perturb, sd1_unet, sd2_unet, sdxl_unet
from tests.fixtures.tiny_x4_upscaler import x4_unet

TOLERANCE = dict(atol=2e-5, rtol=1e-4)


def _unet(kind: str):
    with torch.random.fork_rng():
        torch.manual_seed(5)
        unet = {"sd1": sd1_unet, "sd2": sd2_unet, "sdxl": lambda: sdxl_unet(pooled_width=32), "x4": x4_unet}[kind]()
        return as_our_unet(perturb(unet, torch.Generator().manual_seed(5)))


def _inputs(unet, batch: int = 2, size: int = 8):
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(batch, unet.config.in_channels, size, size, generator=generator)
    context = torch.randn(batch, 7, unet.config.cross_attention_dim, generator=generator)
    added = None
    if unet.config.addition_embed_type == "text_time":
        added = {"text_embeds": torch.randn(batch, 32, generator=generator),
                 "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]] * batch)}
    return x, torch.tensor([500.0, 20.0][:batch]), context, added


def _walk(unet, x, t, context, added, patches=None, replaces=None, control=None, class_labels=None):
    options = {"patches": patches or {}, "patches_replace": replaces or {}}
    with torch.no_grad():
        return patched_unet_forward(unet, x, t, context, transformer_options=options, added_cond=added,
                                    control=control, class_labels=class_labels)


def _plain(reference, x, t, context, added, **kwargs):
    """diffusers' forward of `reference` (a diffusers UNet, or ours to be copied into one)."""
    if not hasattr(reference, "set_attn_processor"):
        reference = as_diffusers_unet(reference)
    with torch.no_grad():
        return reference(x, t, encoder_hidden_states=context, added_cond_kwargs=added, return_dict=False,
                         **kwargs)[0]


@pytest.mark.parametrize("kind", ["sd1", "sd2", "sdxl", "x4"])
def test_an_unpatched_walk_is_diffusers_forward_and_our_plain_call(kind):
    unet = _unet(kind)  # x4: 7 input channels, noise-level class labels, levels attending to the text twice
    x, t, context, added = _inputs(unet)
    labels = {"class_labels": torch.tensor([20, 300])} if kind == "x4" else {}
    walked = _walk(unet, x, t, context, added, **labels)
    torch.testing.assert_close(walked, _plain(unet, x, t, context, added, **labels), **TOLERANCE)
    with torch.no_grad():
        assert torch.equal(unet(x, t, context, added_cond=added, **labels), walked)


def test_blocks_are_numbered_as_comfyui_numbers_them():
    unet = _unet("sd1")  # two levels, one resnet each, attention on the first: ComfyUI's 4 input, 4 output blocks
    seen = {"input": [], "output": [], "attn1": [], "after_skip": 0}

    def record_input(h, options):
        seen["input"].append((options["block"], tuple(h.shape[1:])))
        return h

    def record_output(h, skip, options):
        seen["output"].append((options["block"], skip.shape[1]))
        return h, skip

    def record_attention(n, context, value, extra):
        seen["attn1"].append((extra["block"], extra["block_index"], extra["transformer_index"], extra["n_heads"],
                              extra["dim_head"], tuple(extra["original_shape"])))
        return n, context, value

    def after_skip(h, options):
        seen["after_skip"] += 1
        return h

    x, t, context, added = _inputs(unet)
    _walk(unet, x, t, context, added, {"input_block_patch": [record_input], "output_block_patch": [record_output],
                                       "attn1_patch": [record_attention], "input_block_patch_after_skip": [after_skip]})
    assert seen["input"] == [(("input", 0), (32, 8, 8)), (("input", 1), (32, 8, 8)), (("input", 2), (32, 4, 4)),
                             (("input", 3), (64, 4, 4))]
    assert seen["output"] == [(("output", 0), 64), (("output", 1), 32), (("output", 2), 32), (("output", 3), 32)]
    # attention at input 1, the middle and outputs 2 and 3; 8 heads of 4 channels (32 wide) on the first level
    assert [entry[0] for entry in seen["attn1"]] == [("input", 1), ("middle", 0), ("output", 2), ("output", 3)]
    assert [entry[2] for entry in seen["attn1"]] == [0, 1, 2, 3]
    assert seen["attn1"][0][3:] == (8, 4, (2, 4, 8, 8))
    assert seen["after_skip"] == 4


def test_attn2_patch_giving_another_context_equals_running_with_that_context():
    unet = _unet("sd1")
    x, t, context, added = _inputs(unet)
    other = torch.randn(context.shape, generator=torch.Generator().manual_seed(9))

    def swap(n, context_in, value, extra):
        return n, other, other

    torch.testing.assert_close(_walk(unet, x, t, context, added, {"attn2_patch": [swap]}),
                               _plain(unet, x, t, other, added), **TOLERANCE)


def test_a_value_patch_changes_only_the_values():
    unet = _unet("sd1")
    x, t, context, added = _inputs(unet)

    def doubled_values(n, context_in, value, extra):
        return n, context_in, value * 2.0

    class DoubledValues:  # the same change made inside diffusers' own attention call
        def __call__(self, attn, hidden_states, encoder_hidden_states=None, **kwargs):
            q, k, v = attn.to_q(hidden_states), attn.to_k(encoder_hidden_states), attn.to_v(encoder_hidden_states * 2)
            heads = attn.heads
            q, k, v = (a.view(a.shape[0], -1, heads, a.shape[-1] // heads).transpose(1, 2) for a in (q, k, v))
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
            return attn.to_out[1](attn.to_out[0](out))

    patched = _walk(unet, x, t, context, added, {"attn2_patch": [doubled_values]})
    reference = as_diffusers_unet(unet)
    for name, module in reference.named_modules():
        if name.endswith("attn2"):
            module.set_processor(DoubledValues())
    torch.testing.assert_close(patched, _plain(reference, x, t, context, added), **TOLERANCE)


def test_attn1_replace_on_one_block_only():
    unet = _unet("sd1")
    x, t, context, added = _inputs(unet)

    def silence(q, k, v, extra):
        return torch.zeros_like(q)

    class Silent:
        def __call__(self, attn, hidden_states, encoder_hidden_states=None, **kwargs):
            return attn.to_out[1](attn.to_out[0](torch.zeros_like(attn.to_q(hidden_states))))

    patched = _walk(unet, x, t, context, added, replaces={"attn1": {("middle", 0): silence}})
    assert not torch.allclose(patched, _plain(unet, x, t, context, added), **TOLERANCE)
    reference = as_diffusers_unet(unet)
    reference.mid_block.attentions[0].transformer_blocks[0].attn1.set_processor(Silent())
    torch.testing.assert_close(patched, _plain(reference, x, t, context, added), **TOLERANCE)


def test_output_block_patch_sees_the_skip_before_it_is_joined():
    unet = _unet("sd1")
    x, t, context, added = _inputs(unet)

    def halve_skip(h, skip, options):
        return (h, skip * 0.5) if options["block"] == ("output", 2) else (h, skip)

    patched = _walk(unet, x, t, context, added, {"output_block_patch": [halve_skip]})

    def halve_joined_skip(module, args):  # diffusers joins [h, skip] just before the resnet
        joined = args[0].clone()
        joined[:, 64:] *= 0.5
        return (joined, *args[1:])

    reference = as_diffusers_unet(unet)
    reference.up_blocks[1].resnets[0].register_forward_pre_hook(halve_joined_skip)
    torch.testing.assert_close(patched, _plain(reference, x, t, context, added), **TOLERANCE)


def test_control_residuals_equal_diffusers_controlnet_arguments():
    unet = _unet("sd1")
    x, t, context, added = _inputs(unet)
    generator = torch.Generator().manual_seed(11)
    skips = [(32, 8), (32, 8), (32, 4), (64, 4)]
    residuals = [torch.randn(2, c, s, s, generator=generator) * 0.1 for c, s in skips]
    middle = torch.randn(2, 64, 4, 4, generator=generator) * 0.1
    control = {"output": list(residuals), "middle": [middle]}
    first = _walk(unet, x, t, context, added, control=control)
    torch.testing.assert_close(first, _plain(unet, x, t, context, added, down_block_additional_residuals=residuals,
                                             mid_block_additional_residual=middle), **TOLERANCE)
    assert len(control["output"]) == 4, "the caller's lists are left whole"


def test_a_wrong_control_is_a_clear_error():
    from graph_engine import InvalidNodeInput

    unet = _unet("sd1")
    x, t, context, added = _inputs(unet)
    with pytest.raises(InvalidNodeInput, match="another model"):
        _walk(unet, x, t, context, added, control={"middle": [torch.zeros(2, 1280, 4, 4)]})


def test_the_model_function_wrapper_sees_each_batch_and_its_halves():
    unet = _unet("sd1")
    model = DiffusionModel(unet, "SD1.x", "epsilon", "tiny")
    patched = model.clone()
    calls = []

    def wrapper(apply_model, args):
        calls.append((list(args["cond_or_uncond"]), tuple(args["input"].shape), args["timestep"].tolist(),
                      args["c"]["transformer_options"]["cond_or_uncond"]))
        return apply_model(args["input"], args["timestep"], **args["c"]) * 0.5

    patched.set_model_unet_function_wrapper(wrapper)
    generator = torch.Generator().manual_seed(3)
    positive = [[torch.randn(1, 7, 64, generator=generator), {}]]
    negative = [[torch.randn(1, 7, 64, generator=generator), {}]]
    x, sigma = torch.randn(1, 4, 8, 8, generator=generator), torch.tensor([2.0])
    plain = CFGGuider(model, positive, negative, 3.0).denoiser()(x, sigma)
    halved = CFGGuider(patched, positive, negative, 3.0).denoiser()(x, sigma)
    assert calls == [([0, 1], (2, 4, 8, 8), [2.0, 2.0], [0, 1])]
    torch.testing.assert_close(halved, plain * 0.5, **TOLERANCE)
    assert "model_function_wrapper" not in model.model_options


def test_patches_set_on_a_clone_change_its_prediction_only():
    unet = _unet("sd1")
    model = DiffusionModel(unet, "SD1.x", "epsilon", "tiny")
    patched = model.clone()
    patched.set_model_attn1_replace(lambda q, k, v, extra: torch.zeros_like(q), "middle", 0)
    patched.set_model_attn2_patch(lambda n, c, v, extra: (n, c, v))
    options = patched.model_options["transformer_options"]
    assert list(options["patches_replace"]["attn1"]) == [("middle", 0)] and len(options["patches"]["attn2_patch"]) == 1
    assert model.model_options["transformer_options"] == {}
    conditioning = [[torch.randn(1, 7, 64, generator=torch.Generator().manual_seed(1)), {}]]
    x, sigma = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2)), torch.tensor([1.5])
    assert not torch.allclose(CFGGuider(model, conditioning).denoiser()(x, sigma),
                              CFGGuider(patched, conditioning).denoiser()(x, sigma))
