"""GLIGEN files in the real layout: the loader reads them, the position net and one block's fuser equal a hand
computation from the file's tensors, and wrong files are named."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graph_engine import InvalidNodeInput
from nodes.runtime.checkpoints import NotACheckpointError, classify_file, load_checkpoint, open_checkpoint_file
from nodes.runtime.gligen import GligenError, grounding_tokens, load_gligen
from nodes.runtime.gligen.patch import fuse, grounding_by_entry, middle_patches
from tests.fixtures.tiny_gligen import GROUNDING_WIDTH, write_tiny_gligen

# The tiny SD1 UNet's transformer blocks (LDM names) and widths, deliberately not in the UNet's order.
BLOCKS = {"output_blocks.3.1.transformer_blocks.0": 32, "middle_block.1.transformer_blocks.0": 64,
          "input_blocks.1.1.transformer_blocks.0": 32, "output_blocks.2.1.transformer_blocks.0": 32}
UNET_ORDER = ["input_blocks.1.1.transformer_blocks.0", "middle_block.1.transformer_blocks.0",
              "output_blocks.2.1.transformer_blocks.0", "output_blocks.3.1.transformer_blocks.0"]
PHRASE_WIDTH = 64


def as_ldm(blocks: dict[str, int]) -> dict[str, torch.Tensor]:
    return {f"model.diffusion_model.{block}.attn1.to_q.weight": torch.zeros(width, width)
            for block, width in blocks.items()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("gligen") / "tiny_gligen.safetensors"
    state = write_tiny_gligen(path, as_ldm(BLOCKS), PHRASE_WIDTH, alpha=0.6)
    return load_gligen(path), state


def test_loader_orders_the_fusers_as_the_unet_runs_its_transformers(tiny):
    gligen, _ = tiny
    assert [(f.width, f.heads, f.head_width) for f in gligen.layout.fusers] == [(32, 8, 4), (64, 8, 8), (32, 8, 4),
                                                                               (32, 8, 4)]
    assert gligen.layout.renames["middle_block.1.transformer_blocks.0.fuser.attn.to_q.weight"] == \
        "fusers.1.attn.to_q.weight"
    assert (gligen.layout.position.phrase_width, gligen.layout.position.grounding_width,
            gligen.layout.position.fourier_frequencies) == (PHRASE_WIDTH, GROUNDING_WIDTH, 8)
    assert not any(p.is_meta for p in gligen.network.parameters())


def by_hand_attention(x, state, prefix, heads):
    q, k, v = (x @ state[f"{prefix}attn.to_{n}.weight"].T for n in "qkv")
    batch, tokens, width = q.shape
    d = width // heads
    out = torch.empty_like(q)
    for b in range(batch):
        for h in range(heads):
            cols = slice(h * d, (h + 1) * d)
            weights = torch.softmax(q[b, :, cols] @ k[b, :, cols].T / math.sqrt(d), dim=-1)
            out[b, :, cols] = weights @ v[b, :, cols]
    return out @ state[f"{prefix}attn.to_out.0.weight"].T + state[f"{prefix}attn.to_out.0.bias"]


def by_hand_norm(x, weight, bias):
    mean = x.mean(-1, keepdim=True)
    variance = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + 1e-5) * weight + bias


def test_one_blocks_fuser_equals_a_hand_computation(tiny):
    gligen, state = tiny
    prefix = "middle_block.1.transformer_blocks.0.fuser."
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 6, 64, generator=generator)
    grounding = torch.randn(2, 30, GROUNDING_WIDTH, generator=generator)

    objects = grounding @ state[prefix + "linear.weight"].T + state[prefix + "linear.bias"]
    joined = by_hand_norm(torch.cat([x, objects], dim=1), state[prefix + "norm1.weight"], state[prefix + "norm1.bias"])
    gate = math.tanh(0.6)
    expected = x + gate * by_hand_attention(joined, state, prefix, heads=8)[:, :6]
    projected = by_hand_norm(expected, state[prefix + "norm2.weight"], state[prefix + "norm2.bias"]) @ \
        state[prefix + "ff.net.0.proj.weight"].T + state[prefix + "ff.net.0.proj.bias"]
    value, gelu_in = projected[..., :256], projected[..., 256:]
    hidden = value * 0.5 * gelu_in * (1 + torch.erf(gelu_in / math.sqrt(2)))
    expected = expected + gate * (hidden @ state[prefix + "ff.net.2.weight"].T + state[prefix + "ff.net.2.bias"])

    assert torch.allclose(fuse(gligen, x, grounding, 1), expected, atol=1e-4)
    with pytest.raises(InvalidNodeInput, match="does not fit this UNet"):
        fuse(gligen, x, grounding, 0)  # block 0 is 32 wide


def test_position_net_equals_a_hand_computation(tiny):
    gligen, state = tiny
    phrase = torch.randn(1, PHRASE_WIDTH, generator=torch.Generator().manual_seed(2))
    tokens = grounding_tokens(gligen, [(phrase, 3, 4, 1, 2)], latent_height=8, latent_width=16)  # h, w, y, x

    corners = [2 / 16, 1 / 8, 6 / 16, 4 / 8]
    features = []
    for k in range(8):
        frequency = 100 ** (k / 8)
        features += [math.sin(frequency * c) for c in corners] + [math.cos(frequency * c) for c in corners]
    null = torch.cat([state["position_net.null_positive_feature"], state["position_net.null_position_feature"]])
    rows = torch.stack([torch.cat([phrase[0], torch.tensor(features)])] + [null] * 29)
    for layer in (0, 2, 4):
        rows = rows @ state[f"position_net.linears.{layer}.weight"].T + state[f"position_net.linears.{layer}.bias"]
        rows = F.silu(rows) if layer < 4 else rows
    assert tokens.shape == (1, 30, GROUNDING_WIDTH)
    assert torch.allclose(tokens[0], rows, atol=1e-4)


class Entry:
    """What the patch reads of a conditioning entry (guidance.conditioning.CondEntry's fields)."""

    def __init__(self, gligen=None, area=None):
        self.options = {} if gligen is None else {"gligen": gligen}
        self.area, self.area_fraction, self.area_from_mask = area, None, False


def test_negative_entries_without_area_take_the_positives_grounding_as_in_comfyui(tiny):
    gligen, _ = tiny
    one, two = ("position", gligen, []), ("position", gligen, [])
    positive = [Entry(one), Entry(two), Entry()]
    plain, boxed = Entry(), Entry(area=(4, 4, 0, 0))
    found = grounding_by_entry((positive, [plain, boxed]))
    assert found[id(plain)] is two and id(boxed) not in found  # one negative entry: the later grounding wins
    own = Entry(("position", gligen, []))
    assert id(plain) not in grounding_by_entry((positive, [plain, own]))  # a negative with its own keeps all as is


def test_a_batch_grounds_only_its_grounded_chunks(tiny):
    gligen, _ = tiny
    phrase = torch.randn(1, PHRASE_WIDTH, generator=torch.Generator().manual_seed(3))
    grounded, plain = Entry(("position", gligen, [(phrase, 2, 2, 0, 0)])), Entry()
    # both positive: a positive entry without grounding stays without (a negative one would take the grounding)
    patches = middle_patches([plain, grounded], [(8, 8, 0, 0), (8, 8, 0, 0)], chunk=2, groups=([grounded, plain],))
    x = torch.randn(4, 5, 32, generator=torch.Generator().manual_seed(4))
    out = patches["middle_patch"][0](x, {"transformer_index": 2})
    assert torch.equal(out[:2], x[:2])
    expected = fuse(gligen, x[2:], grounding_tokens(gligen, [(phrase, 2, 2, 0, 0)], 8, 8).expand(2, -1, -1), 2)
    assert torch.allclose(out[2:], expected, atol=1e-6) and not torch.allclose(out[2:], x[2:], atol=1e-3)
    assert middle_patches([plain], [(8, 8, 0, 0)], chunk=1, groups=([plain], [])) is None


def test_a_gligen_file_given_as_a_checkpoint_says_where_it_belongs(tmp_path):
    path = tmp_path / "gligen_sd14_textbox_pruned.safetensors"
    write_tiny_gligen(path, as_ldm(BLOCKS), PHRASE_WIDTH)
    with open_checkpoint_file(path) as opened:
        kind = classify_file(opened.shapes, opened.metadata)
    assert (kind.kind, kind.description) == ("gligen", "a GLIGEN model")
    with pytest.raises(NotACheckpointError, match=r"is a GLIGEN model, not a full checkpoint: put it in models/gligen "
                                                  r"and load it with Load GLIGEN Model"):
        load_checkpoint(path, torch.device("cpu"), torch.float32)


def test_a_lora_or_a_half_file_given_as_gligen_is_named(tmp_path):
    from safetensors.torch import save_file

    lora = tmp_path / "style.safetensors"
    save_file({"lora_unet_mid_block_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 8),
               "lora_unet_mid_block_attentions_0_proj_in.lora_up.weight": torch.zeros(8, 4)}, str(lora))
    with pytest.raises(GligenError, match=r"is a LoRA, not a GLIGEN model: put it in models/loras"):
        load_gligen(lora)
    fusers_only = tmp_path / "fusers.safetensors"
    state = write_tiny_gligen(tmp_path / "whole.safetensors", as_ldm(BLOCKS), PHRASE_WIDTH)
    save_file({k: v for k, v in state.items() if not k.startswith("position_net.")}, str(fusers_only))
    with pytest.raises(GligenError, match=r"not a GLIGEN model Latentloom can load: it has no GLIGEN position net"):
        load_gligen(fusers_only)


def test_a_malformed_gligen_option_or_too_many_boxes_is_refused(tiny):
    gligen, _ = tiny
    with pytest.raises(InvalidNodeInput, match=r"'gligen' option must be \("):
        malformed = Entry(("position", "model.safetensors", []))
        middle_patches([malformed], [(8, 8, 0, 0)], chunk=1, groups=([malformed],))
    phrase = torch.zeros(1, PHRASE_WIDTH)
    with pytest.raises(InvalidNodeInput, match="holds 31 GLIGEN boxes; a GLIGEN model reads at most 30"):
        grounding_tokens(gligen, [(phrase, 1, 1, 0, 0)] * 31, 8, 8)
