"""comfy.ldm.modules.attention and comfy.clip_vision for plugins: the attention functions against attention written
out by hand in every layout ComfyUI's take, and CLIP vision loading and encoding against the CLIPVisionLoader and
CLIPVisionEncode nodes on a tiny tower."""
from __future__ import annotations

import math

import pytest
import torch

from graph_engine import using_folders
from nodes.comfy_compat import install_comfy_modules
from nodes.vision.clip_vision_nodes import CLIPVisionEncode, CLIPVisionLoader
from tests.fixtures.tiny_vision_models import save, tiny_clip_vision, transformers_layout
from tests.nodes.latent.latent_helpers import make_engine
from tests.nodes.vision.pixels import clip_pixels

HEADS, DIM = 2, 3
CLIP_MEAN = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
CLIP_STD = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def attention_module():
    install_comfy_modules()
    import comfy

    return comfy.ldm.modules.attention  # reached as attributes from `import comfy`, as packs do


def by_hand(q, k, v, mask=None):
    """softmax(q k^T / sqrt(dim) + mask) v per batch and head, over [batch, heads, tokens, dim] inputs."""
    out = torch.empty_like(q[:, :, :, :1].expand(-1, -1, -1, v.shape[-1])).clone()
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            scores = q[b, h] @ k[b, h].T / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores + mask[b]
            out[b, h] = torch.softmax(scores, dim=-1) @ v[b, h]
    return out


def heads_first(t):
    return t.reshape(t.shape[0], t.shape[1], HEADS, DIM).transpose(1, 2)


def heads_last(t):
    return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], HEADS * DIM)


@pytest.fixture
def qkv():
    g = torch.Generator().manual_seed(4)
    return (torch.randn(2, 5, HEADS * DIM, generator=g), torch.randn(2, 7, HEADS * DIM, generator=g),
            torch.randn(2, 7, HEADS * DIM, generator=g))


def test_every_attention_name_is_the_one_attention(attention_module):
    a = attention_module
    assert a.optimized_attention is a.optimized_attention_masked is a.attention_pytorch is a.attention_basic
    assert a.optimized_attention_for_device(torch.device("cpu"), mask=True, small_input=True) is a.attention_pytorch
    assert not hasattr(a, "SpatialTransformer")


def test_attention_in_comfyui_layouts(attention_module, qkv):
    q, k, v = qkv
    expected = by_hand(*map(heads_first, qkv))
    attend = attention_module.optimized_attention
    torch.testing.assert_close(attend(q, k, v, HEADS), heads_last(expected), atol=1e-6, rtol=1e-5)
    split = tuple(map(heads_first, qkv))
    torch.testing.assert_close(attend(*split, HEADS, skip_reshape=True), heads_last(expected), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(attend(*split, HEADS, skip_reshape=True, skip_output_reshape=True), expected,
                               atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(attend(q, k, v, HEADS, skip_output_reshape=True), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(attend(q, k, v, HEADS, attn_precision=torch.float32), heads_last(expected),
                               atol=1e-6, rtol=1e-5)


def test_masked_attention(attention_module, qkv):
    q, k, v = qkv
    mask = torch.zeros(2, 5, 7)
    mask[0, :, 3:] = -torch.inf  # the first item's queries see its first three keys only
    mask[1, :, :2] = -torch.inf
    expected = heads_last(by_hand(*map(heads_first, qkv), mask=mask))
    torch.testing.assert_close(attention_module.optimized_attention_masked(q, k, v, HEADS, mask=mask), expected,
                               atol=1e-6, rtol=1e-5)
    only_first_three = by_hand(*(heads_first(t)[:1] for t in (q, k[:, :3], v[:, :3])))
    torch.testing.assert_close(expected[:1], heads_last(only_first_three), atol=1e-6, rtol=1e-5)


@pytest.fixture(scope="module")
def vision_file(tmp_path_factory):
    base = tmp_path_factory.mktemp("vision")
    return save(transformers_layout(tiny_clip_vision()), base / "models" / "clip_vision" / "tiny.safetensors"), base


@pytest.mark.parametrize("crop", [True, False], ids=["center", "none"])
def test_clip_vision_load_and_encode_give_what_the_nodes_give(vision_file, crop):
    install_comfy_modules()
    import comfy.clip_vision

    path, base = vision_file
    image = torch.rand((2, 30, 44, 3), generator=torch.Generator().manual_seed(6))
    vision = comfy.clip_vision.load(str(path))
    assert isinstance(vision, comfy.clip_vision.ClipVisionModel)
    out = vision.encode_image(image, crop=crop)
    with using_folders(make_engine(base).folders):
        (node_vision,) = CLIPVisionLoader().load_clip("tiny.safetensors")
    (expected,) = CLIPVisionEncode().encode(node_vision, image, "center" if crop else "none")
    assert isinstance(out, comfy.clip_vision.Output) and out["image_embeds"] is out.image_embeds
    for name in ("image_embeds", "last_hidden_state", "penultimate_hidden_states"):
        torch.testing.assert_close(out[name], expected[name], atol=1e-6, rtol=1e-5)
    assert (out.image_embeds - vision.encode_image(image, crop=not crop).image_embeds).abs().max() > 1e-3


def test_clip_preprocess_as_comfyui():
    install_comfy_modules()
    from comfy.clip_vision import clip_preprocess

    image = torch.rand((2, 40, 30, 4), generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(clip_preprocess(image, 28), clip_pixels(image, 28), atol=1e-5, rtol=0)
    assert clip_preprocess(image).shape == (2, 3, 224, 224)
    unit = clip_preprocess(image, size=28, mean=[0.5] * 3, std=[0.5] * 3, crop=False)
    raw = clip_preprocess(image, 28, crop=False) * CLIP_STD + CLIP_MEAN  # the 8-bit pixels both normalise
    torch.testing.assert_close(unit, (raw - 0.5) / 0.5, atol=1e-5, rtol=1e-5)
