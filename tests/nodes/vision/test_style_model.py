"""StyleModelLoader and StyleModelApply: a tiny T2I-Adapter style model in the real key layout, computed here with
plain tensor maths from the file's weights."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graph_engine import InvalidNodeInput, using_folders
from nodes.runtime.checkpoints import CheckpointError
from nodes.runtime.clip_vision import ClipVisionOutput
from nodes.vision.style_model_nodes import StyleModelApply, StyleModelLoader
from tests.fixtures.tiny_checkpoints import write_kohya_lora
from tests.fixtures.tiny_vision_models import save, tiny_style_model
from tests.nodes.latent.latent_helpers import make_engine

HEADS = 8


def layer_norm(x, state, name):
    return F.layer_norm(x, x.shape[-1:], state[f"{name}.weight"], state[f"{name}.bias"], 1e-5)


def reference_tokens(state: dict, hidden: torch.Tensor) -> torch.Tensor:
    """The style adapter written out: style tokens appended, pre-norm, residual attention/MLP blocks, post-norm of
    the style tokens, projection."""
    tokens = state["style_embedding"].shape[1]
    x = torch.cat([hidden, state["style_embedding"].expand(hidden.shape[0], -1, -1)], dim=1)
    x = layer_norm(x, state, "ln_pre")
    width = x.shape[-1]
    for index in range(sum(1 for key in state if key.endswith(".attn.in_proj_weight"))):
        block = f"transformer_layes.{index}"
        normed = layer_norm(x, state, f"{block}.ln_1")
        q, k, v = (normed @ state[f"{block}.attn.in_proj_weight"].t() + state[f"{block}.attn.in_proj_bias"]).split(
            width, dim=-1)
        split = lambda t: t.reshape(t.shape[0], t.shape[1], HEADS, -1).transpose(1, 2)  # noqa: E731
        weights = (split(q) @ split(k).transpose(-1, -2) / math.sqrt(width // HEADS)).softmax(-1)
        attended = (weights @ split(v)).transpose(1, 2).reshape(x.shape)
        x = x + attended @ state[f"{block}.attn.out_proj.weight"].t() + state[f"{block}.attn.out_proj.bias"]
        hidden_mlp = layer_norm(x, state, f"{block}.ln_2") @ state[f"{block}.mlp.c_fc.weight"].t() \
            + state[f"{block}.mlp.c_fc.bias"]
        hidden_mlp = hidden_mlp * torch.sigmoid(1.702 * hidden_mlp)
        x = x + hidden_mlp @ state[f"{block}.mlp.c_proj.weight"].t() + state[f"{block}.mlp.c_proj.bias"]
    return layer_norm(x[:, -tokens:], state, "ln_post") @ state["proj"]


@pytest.fixture
def style(tmp_path):
    state = tiny_style_model()
    save(state, tmp_path / "models" / "style_models" / "style.safetensors")
    engine = make_engine(tmp_path)
    with using_folders(engine.folders):
        assert StyleModelLoader.INPUT_TYPES()["required"]["style_model_name"][0] == ["style.safetensors"]
        (model,) = StyleModelLoader().load_style_model("style.safetensors")
    return state, model


def vision_output(images: int = 2) -> ClipVisionOutput:
    hidden = torch.randn((images, 5, 32), generator=torch.Generator().manual_seed(4))
    return ClipVisionOutput(last_hidden_state=hidden, image_embeds=hidden[:, 0], penultimate_hidden_states=hidden)


def test_multiply_appends_scaled_tokens_of_every_image_to_each_entry(style):
    state, model = style
    output = vision_output()
    text = torch.randn((1, 7, 16), generator=torch.Generator().manual_seed(5))
    conditioning = [[text, {"pooled_output": torch.ones(1, 4)}], [text * 2, {}]]
    (out,) = StyleModelApply().apply_stylemodel(conditioning, model, output, 0.5, "multiply")
    expected = reference_tokens(state, output.last_hidden_state).reshape(1, 2 * 3, 16) * 0.5
    assert len(out) == 2 and out[0][0].shape == (1, 7 + 6, 16)
    torch.testing.assert_close(out[0][0][:, :7], text)
    torch.testing.assert_close(out[0][0][:, 7:], expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out[1][0][:, 7:], expected, atol=1e-5, rtol=1e-4)
    assert "attention_mask" not in out[0][1] and conditioning[0][1].keys() == {"pooled_output"}


def test_attn_bias_keeps_the_tokens_and_biases_attention_to_them(style):
    _, model = style
    output = vision_output(images=1)
    text = torch.zeros((1, 2, 16))
    (plain,) = StyleModelApply().apply_stylemodel([[text, {}]], model, output, 1.0, "multiply")
    (out,) = StyleModelApply().apply_stylemodel([[text, {}]], model, output, 0.25, "attn_bias")
    torch.testing.assert_close(out[0][0], plain[0][0])  # attn_bias leaves the tokens unscaled
    mask = out[0][1]["attention_mask"]
    # 2 text tokens, 3 style tokens, 1 reference slot: rows attend to columns 2..4 with log(0.25)
    bias = math.log(0.25)
    expected = torch.zeros((1, 6, 6))
    expected[:, :2, 2:5] = bias
    expected[:, 5:, 2:5] = bias
    assert mask.dtype == torch.float16 and out[0][1]["attention_mask_img_shape"] == (1, 1)
    torch.testing.assert_close(mask.float(), expected, atol=2e-3, rtol=0)
    (zero,) = StyleModelApply().apply_stylemodel([[text, {}]], model, output, 0.0, "attn_bias")
    assert torch.isinf(zero[0][1]["attention_mask"][0, 0, 2]) and zero[0][1]["attention_mask"][0, 0, 0] == 0
    (kept,) = StyleModelApply().apply_stylemodel([[text, {}]], model, output, 1.0, "attn_bias")
    assert "attention_mask" not in kept[0][1]


def test_an_existing_mask_grows_around_the_new_tokens(style):
    _, model = style
    text = torch.zeros((1, 2, 16))
    old = torch.tensor([[[True, False, True], [True, True, False], [False, True, True]]])
    (out,) = StyleModelApply().apply_stylemodel([[text, {"attention_mask": old}]], model, vision_output(1), 2.0,
                                                "multiply")
    mask = out[0][1]["attention_mask"].float()
    kept = mask[:, [0, 1, 5]][:, :, [0, 1, 5]]
    assert torch.equal(torch.isinf(kept), ~old) and (mask[:, :, 2:5] == 0).all()


def test_wrong_files_and_mismatched_encodings_are_named(style, tmp_path):
    _, model = style
    with pytest.raises(InvalidNodeInput, match="width 8 but the style model style.safetensors reads 32"):
        model.get_cond(ClipVisionOutput(last_hidden_state=torch.zeros(1, 5, 8)))
    write_kohya_lora(tmp_path / "models" / "style_models" / "lora.safetensors")
    save({"redux_down.weight": torch.zeros(2, 2), "redux_up.weight": torch.zeros(2, 2)},
         tmp_path / "models" / "style_models" / "redux.safetensors")
    engine = make_engine(tmp_path)
    with using_folders(engine.folders):
        with pytest.raises(CheckpointError, match="is a LoRA.*not a style model"):
            StyleModelLoader().load_style_model("lora.safetensors")
        with pytest.raises(CheckpointError, match="Flux Redux"):
            StyleModelLoader().load_style_model("redux.safetensors")
