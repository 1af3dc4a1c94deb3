"""Interrupt checks inside one model call: before each part of each UNet and VAE block, and between the query blocks of
a big attention, with results unchanged."""
from __future__ import annotations

import contextlib
import threading

import pytest
import torch
from diffusers.models.attention_processor import Attention as DiffusersAttention

from graph_engine import EventStream, Interrupted
from graph_engine.context import NodeContext, enter_context, leave_context
from nodes.runtime.demo_model import demo_unet, demo_vae
from nodes.runtime.models.interrupts import make_unet_interruptible, make_vae_interruptible
from nodes.runtime.models.unet_attention import MAX_SCORES, Attention
from tests.fixtures.tiny_checkpoints import as_our_unet, own_vae


class CountingFlag(threading.Event):
    """An interrupt flag that counts how often it is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def is_set(self) -> bool:
        self.asked += 1
        return super().is_set()


@contextlib.contextmanager
def running_node(flag: threading.Event):
    """The context a node runs in, as the executor lends it."""
    token = enter_context(NodeContext("prompt", "3", "KSampler", EventStream(), flag))
    try:
        yield flag
    finally:
        leave_context(token)


def attention_layers(heads: int = 16, head_dim: int = 4) -> tuple[Attention, DiffusersAttention]:
    """Our UNet attention and diffusers' (one fused call, its default processor) with the same weights."""
    torch.manual_seed(0)
    theirs = DiffusersAttention(query_dim=heads * head_dim, heads=heads, dim_head=head_dim).eval()
    ours = Attention(heads * head_dim, heads, head_dim).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


def test_a_big_attention_is_computed_in_query_blocks_with_the_same_result():
    layer, reference = attention_layers()
    tokens = 2048
    x = torch.randn(2, tokens, 64)
    assert 2 * 16 * tokens * tokens > MAX_SCORES  # big enough to be split
    with torch.no_grad():
        expected = reference(x)
        with running_node(CountingFlag()) as flag:
            got = layer(x)
    assert flag.asked == 2  # one check before each of its two blocks of 1024 queries
    assert torch.equal(got, expected)


def test_small_attentions_and_cross_attention_are_one_call():
    layer, _ = attention_layers()
    with torch.no_grad(), running_node(CountingFlag()) as flag:
        layer(torch.randn(2, 1024, 64))
        layer(torch.randn(2, 4096, 64), torch.randn(2, 77, 64))
    assert flag.asked == 0


def test_an_interrupt_stops_a_big_attention_at_its_next_block():
    layer, _ = attention_layers()
    flag = threading.Event()
    flag.set()
    with torch.no_grad(), running_node(flag), pytest.raises(Interrupted):
        layer(torch.randn(2, 2048, 64))


def ran(module: torch.nn.Module) -> list[str]:
    """A list that gets "ran" each time `module` finishes a forward call."""
    calls: list[str] = []
    module.register_forward_hook(lambda *_: calls.append("ran"))
    return calls


def test_an_interrupt_during_a_unet_call_stops_it_before_the_next_block_part():
    unet = as_our_unet(demo_unet())
    make_unet_interruptible(unet)
    flag = threading.Event()
    unet.down_blocks[0].resnets[0].register_forward_hook(lambda *_: flag.set())  # /interrupt arrives meanwhile
    transformer_after, up_blocks = ran(unet.down_blocks[0].attentions[0]), ran(unet.up_blocks[0])
    with torch.no_grad(), running_node(flag), pytest.raises(Interrupted):
        unet(torch.randn(1, 4, 16, 16), torch.tensor([500]), torch.randn(1, 77, 64))
    assert transformer_after == [] and up_blocks == []


def test_the_checks_change_no_unet_result_and_are_added_once():
    unet = as_our_unet(demo_unet())
    x, t, context = torch.randn(2, 4, 16, 16), torch.tensor([500, 500]), torch.randn(2, 77, 64)
    with torch.no_grad():
        expected = unet(x, t, context)
        make_unet_interruptible(unet)
        make_unet_interruptible(unet)
        with running_node(CountingFlag()) as flag:
            got = unet(x, t, context)
    parts = sum(len(getattr(block, name, None) or ()) for block in (*unet.down_blocks, unet.mid_block,
                                                                    *unet.up_blocks)
                for name in ("resnets", "attentions", "downsamplers", "upsamplers"))
    assert flag.asked == parts  # one check per block part, not two
    assert torch.equal(got, expected)


def test_an_interrupt_during_a_vae_decode_stops_it_before_the_next_block_part():
    vae = own_vae(demo_vae())
    make_vae_interruptible(vae)
    flag = threading.Event()
    vae.decoder.mid_block.resnets[0].register_forward_hook(lambda *_: flag.set())
    up_blocks = ran(vae.decoder.up_blocks[0])
    with torch.no_grad(), running_node(flag), pytest.raises(Interrupted):
        vae.decode(torch.randn(1, 4, 8, 8))
    assert up_blocks == []


def test_a_huge_vae_attention_takes_the_interruptible_split_path_without_timing_every_path():
    from nodes.runtime.models.vae_attention import AttentionChooser

    vae = own_vae(demo_vae())
    # 182 x 182 latent cells (a 1,456 px image): 33,124 tokens, over a billion query-key pairs; timing each path on it
    # would run the attention a dozen times
    assert AttentionChooser().install(vae, 182, 182) == "split"
    assert vae.decoder.mid_block.attentions[0].path == "split"


def test_the_split_vae_attention_checks_before_each_query_block_and_an_interrupt_stops_it(monkeypatch):
    from nodes.runtime.models import vae_attention

    monkeypatch.setattr(vae_attention, "QUERY_CHUNK", 16)
    layer = vae_attention.vae_attention_layers(own_vae(demo_vae()))[0]
    layer.path = "split"
    x = torch.randn(1, layer.to_q.in_features, 8, 8)  # 64 queries: four blocks
    with torch.no_grad():
        with running_node(CountingFlag()) as flag:
            layer(x)
        assert flag.asked == 4
        with running_node(InterruptAfterFirstAsk()) as flag, pytest.raises(Interrupted):
            layer(x)
    assert flag.asked == 2  # the first block ran, the second was never started


@pytest.mark.parametrize("conv", [
    torch.nn.Conv2d(8, 16, 3, padding=1),  # a resnet's
    torch.nn.Conv2d(8, 8, 3, stride=2, padding=0),  # diffusers' downsampler (its own padding done before)
    torch.nn.Conv2d(8, 8, 3, stride=2, padding=1),
    torch.nn.Conv2d(8, 4, 1),  # a shortcut
    torch.nn.Conv2d(8, 8, 5, padding=4, dilation=2, groups=2),
], ids=["3x3", "stride2", "stride2-padded", "1x1", "dilated-grouped"])
def test_a_big_convolution_is_computed_in_bands_of_rows_with_the_same_result(monkeypatch, conv):
    from nodes.runtime.models import interrupts

    torch.manual_seed(0)
    x = torch.randn(2, 8, 37, 29)
    with torch.no_grad():
        expected = conv(x)
        conv.__class__ = interrupts.InterruptibleConv2d
        macs = 2 * expected.shape[-1] * conv.out_channels * (8 // conv.groups) * conv.kernel_size[0] ** 2
        monkeypatch.setattr(interrupts, "MAX_CONV_MACS", macs * 6)  # bands of three output rows
        with running_node(CountingFlag()) as flag:
            got = conv(x)
    assert flag.asked == -(-expected.shape[-2] // 3)  # one check before each band
    # the same products summed; a backend may pick another summation order for a band's shape (float round-off)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_a_banded_convolution_keeps_a_channels_last_input_channels_last(monkeypatch):
    from nodes.runtime.models import interrupts

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 16, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(1, 8, 37, 29).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = conv(x)
        conv.__class__ = interrupts.InterruptibleConv2d
        monkeypatch.setattr(interrupts, "MAX_CONV_MACS", 29 * 16 * 8 * 9 * 6)  # bands of three output rows
        got = conv(x)
    assert got.is_contiguous(memory_format=torch.channels_last)  # the VAE's layers after it stay in its layout
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


class InterruptAfterFirstAsk(CountingFlag):
    """/interrupt arrives right after the first check (while the first band is computed)."""

    def is_set(self) -> bool:
        return super().is_set() or self.asked > 1


def test_an_interrupt_stops_a_big_convolution_at_its_next_band_and_the_models_have_them(monkeypatch):
    from nodes.runtime.models import interrupts

    vae = own_vae(demo_vae())
    make_vae_interruptible(vae)
    unet = as_our_unet(demo_unet())
    make_unet_interruptible(unet)
    convolutions = [m for model in (vae, unet) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(type(m) is interrupts.InterruptibleConv2d for m in convolutions)
    monkeypatch.setattr(interrupts, "MAX_CONV_MACS", 1 << 20)
    conv_out = vae.decoder.conv_out
    with torch.no_grad(), running_node(InterruptAfterFirstAsk()) as flag, pytest.raises(Interrupted):
        conv_out(torch.randn(1, conv_out.in_channels, 64, 64))
    assert flag.asked == 2  # the first band ran, the second was never started


def test_an_attention_over_very_many_keys_is_split_into_blocks_smaller_than_1024_queries():
    layer, reference = attention_layers(heads=8, head_dim=4)
    x = torch.randn(2, 8192, 32)  # 2 x 8 x 8192 keys: 1024 queries would hold 2^27 scores, over MAX_SCORES
    with torch.no_grad():
        expected = reference(x)
        with running_node(CountingFlag()) as flag:
            got = layer(x)
    assert flag.asked == 8192 // 512  # blocks of 512 queries: 2^26 scores each
    assert torch.equal(got, expected)
