"""Our UNet computes what diffusers' UNet2DConditionModel computes from the same weights, for configs shaped like each
UNet Latentloom loads (SD1.x, SD2.x with several heads per level, SDXL, the x4 upscaler, unCLIP), with diffusers'
module tree and parameter names, and refuses configs it cannot compute as diffusers would."""
from __future__ import annotations

import pytest
import torch
from diffusers import UNet2DConditionModel
from diffusers.models.embeddings import get_timestep_embedding

from nodes.runtime.models import unet_attention
from nodes.runtime.models.unet_attention import Attention, multi_head_attention
from nodes.runtime.models.unet_model import CONFIG_DEFAULTS, UNetModel, timestep_embedding
from tests.fixtures.tiny_checkpoints import perturb, sd1_unet, sdxl_unet
from tests.fixtures.tiny_x4_upscaler import x4_unet

POOLED = 32
UNCLIP_EMBED = 24
SD2_SEVERAL_HEADS = dict(sample_size=8, block_out_channels=(64, 64), layers_per_block=1,
                         down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=48,
                         attention_head_dim=[2, 4], use_linear_projection=True, upcast_attention=True,
                         norm_num_groups=32)
UNCLIP = dict(sample_size=8, block_out_channels=(64, 64), layers_per_block=1,
              down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
              up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=64, attention_head_dim=[1, 1],
              use_linear_projection=True, norm_num_groups=32,
              class_embed_type="projection", projection_class_embeddings_input_dim=2 * UNCLIP_EMBED)
BUILDERS = {
    "SD1.x": sd1_unet,  # 1x1-conv projections, 8 heads, attention on the first level only
    "SD2.x": lambda: UNet2DConditionModel(**SD2_SEVERAL_HEADS),  # linear projections, heads per level
    "SDXL": lambda: sdxl_unet(POOLED),  # size conditioning, no attention on level 0, depth 2 on the last
    "x4 upscaler": x4_unet,  # 7 input channels, a noise-level table, levels attending to the text twice
    "unCLIP": lambda: UNet2DConditionModel(**UNCLIP),  # image embeddings projected into the time embedding
    "inpainting": lambda: UNet2DConditionModel(**{**SD2_SEVERAL_HEADS, "in_channels": 9}),
}


def pair(kind: str) -> tuple[UNet2DConditionModel, UNetModel]:
    """diffusers' UNet with distinct random weights, and ours loaded strictly from its state dict."""
    torch.manual_seed(0)
    theirs = perturb(BUILDERS[kind](), torch.Generator().manual_seed(1))
    ours = UNetModel(theirs.config).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return theirs, ours


def inputs(unet: UNet2DConditionModel, height: int = 8, width: int = 8, batch: int = 2) -> dict:
    """Latents, timesteps, context and whatever else this UNet reads, for both call conventions."""
    generator = torch.Generator().manual_seed(2)
    config = unet.config
    x = torch.randn(batch, config.in_channels, height, width, generator=generator)
    context = torch.randn(batch, 7, config.cross_attention_dim, generator=generator)
    found = {"x": x, "timestep": torch.tensor([500.0, 12.0])[:batch], "context": context}
    if config.addition_embed_type == "text_time":
        found["added_cond"] = {"text_embeds": torch.randn(batch, POOLED, generator=generator),
                               "time_ids": torch.tensor([[64.0, 48.0, 0.0, 8.0, 64.0, 48.0]] * batch)}
    if config.num_class_embeds is not None:
        found["class_labels"] = torch.tensor([20, 350])[:batch]
    if config.class_embed_type == "projection":
        found["class_labels"] = torch.randn(batch, 2 * UNCLIP_EMBED, generator=generator)
    return found


def outputs(theirs: UNet2DConditionModel, ours: UNetModel, given: dict) -> tuple[torch.Tensor, torch.Tensor]:
    extra = {key: given[key] for key in ("class_labels",) if key in given}
    with torch.no_grad():
        want = theirs(given["x"], given["timestep"], encoder_hidden_states=given["context"],
                      added_cond_kwargs=given.get("added_cond"), return_dict=False, **extra)[0]
        got = ours(given["x"], given["timestep"], given["context"], added_cond=given.get("added_cond"), **extra)
    return got, want


def assert_equal_outputs(got: torch.Tensor, want: torch.Tensor) -> None:
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5 * float(want.abs().max()))


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_the_output_equals_diffusers_with_the_same_weights(kind):
    theirs, ours = pair(kind)
    assert {name: tuple(t.shape) for name, t in ours.state_dict().items()} == \
        {name: tuple(t.shape) for name, t in theirs.state_dict().items()}
    assert_equal_outputs(*outputs(theirs, ours, inputs(theirs)))


@pytest.mark.parametrize("kind", ["SD1.x", "SDXL"])
def test_an_odd_latent_size_is_upsampled_to_each_skip_size(kind):
    theirs, ours = pair(kind)
    got, want = outputs(theirs, ours, inputs(theirs, height=9, width=7, batch=1))
    assert got.shape[-2:] == (9, 7)
    assert_equal_outputs(got, want)


def test_a_single_number_timestep_serves_the_whole_batch():
    theirs, ours = pair("SD1.x")
    given = inputs(theirs)
    with torch.no_grad():
        want = theirs(given["x"], 500, encoder_hidden_states=given["context"]).sample
        for timestep in (500, 500.0, torch.tensor(500)):
            assert_equal_outputs(ours(given["x"], timestep, given["context"]), want)


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_the_config_holds_every_diffusers_key_with_diffusers_values(kind):
    theirs, ours = pair(kind)

    def plain(value):
        return list(value) if isinstance(value, (list, tuple)) else value

    assert set(ours.config) == set(CONFIG_DEFAULTS)
    assert {key: plain(ours.config[key]) for key in CONFIG_DEFAULTS} == \
        {key: plain(theirs.config[key]) for key in CONFIG_DEFAULTS}
    assert ours.config.block_out_channels == ours.config["block_out_channels"]
    with pytest.raises(TypeError):
        ours.config["in_channels"] = 8


def test_a_folder_config_builds_with_its_bookkeeping_ignored():
    config = {**SD2_SEVERAL_HEADS, "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.6.0"}
    assert "_class_name" not in UNetModel(config).config


@pytest.mark.parametrize("key, value", [("time_embedding_type", "fourier"), ("resnet_time_scale_shift", "scale_shift"),
                                        ("addition_embed_type", "text"), ("class_embed_type", "timestep"),
                                        ("encoder_hid_dim_type", "text_proj"), ("attention_type", "gated"),
                                        ("mid_block_type", "UNetMidBlock2DSimpleCrossAttn")])
def test_a_config_value_it_cannot_compute_is_refused_naming_the_key(key, value):
    with pytest.raises(ValueError, match=f"{key}={value!r}"):
        UNetModel({**SD2_SEVERAL_HEADS, key: value})


def test_a_block_kind_it_does_not_build_is_refused_naming_it():
    config = {**SD2_SEVERAL_HEADS, "down_block_types": ("SimpleCrossAttnDownBlock2D", "DownBlock2D")}
    with pytest.raises(ValueError, match="down_block_types.*'SimpleCrossAttnDownBlock2D'"):
        UNetModel(config)


@pytest.mark.parametrize("channels, shift, flip", [(64, 0, True), (33, 1, False)])
def test_the_timestep_embedding_equals_diffusers(channels, shift, flip):
    timesteps = torch.tensor([0, 1, 250, 999])
    assert torch.equal(timestep_embedding(timesteps, channels, flip_sin_to_cos=flip, downscale_freq_shift=shift),
                       get_timestep_embedding(timesteps, channels, flip_sin_to_cos=flip, downscale_freq_shift=shift))


def test_a_big_attention_in_query_blocks_equals_one_call(monkeypatch):
    torch.manual_seed(0)
    layer = Attention(query_dim=32, heads=4, head_dim=8).eval()
    x, context = torch.randn(2, 300, 32), torch.randn(2, 77, 32)
    with torch.no_grad():
        whole_self, whole_cross = layer(x), layer(x, context)
        monkeypatch.setattr(unet_attention, "MAX_SCORES", 2 * 4 * 300 * 64)  # blocks of 64 queries
        assert unet_attention.query_block_size(2, 4, 300, 300) == 64
        blocked_self, blocked_cross = layer(x), layer(x, context)
    assert torch.equal(blocked_self, whole_self)
    torch.testing.assert_close(blocked_cross, whole_cross, rtol=0, atol=1e-6)


def test_multi_head_attention_splits_the_width_into_heads():
    q, k, v = torch.randn(1, 5, 12), torch.randn(1, 3, 12), torch.randn(1, 3, 12)
    out = multi_head_attention(q, k, v, heads=3)
    first_head = torch.softmax(q[..., :4] @ k[..., :4].transpose(1, 2) / 2, dim=-1) @ v[..., :4]
    torch.testing.assert_close(out[..., :4], first_head, rtol=0, atol=1e-6)
