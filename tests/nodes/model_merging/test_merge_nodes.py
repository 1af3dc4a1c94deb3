"""The merge and attention-multiply nodes on two tiny SD1 checkpoints: the weights the merged view carries when it
runs, against the two files' tensors combined here; the base coming back exactly; merging a patched model."""
from __future__ import annotations

import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.model_merging.attention_multiply import (CLIPAttentionMultiply, UNetCrossAttentionMultiply,
                                                    UNetSelfAttentionMultiply)
from nodes.model_merging.merge_nodes import (CLIPMergeAdd, CLIPMergeSimple, CLIPMergeSubtract, ModelMergeAdd,
                                             ModelMergeBlocks, ModelMergeSimple, ModelMergeSubtract)
from nodes.model_merging.model_specific import ModelMergeSD1
from tests.nodes.model_merging.file_weights import clip_file_weights, load, unet_file_weights

ATTN1_Q = "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"
ATTN2_K = "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
ATTN1_OUT_BIAS = "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_out.0.bias"
CLIP_Q = "clip_l.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight"
CLIP_K = "clip_l.transformer.text_model.encoder.layers.0.self_attn.k_proj.weight"


def running_weights(value) -> dict[str, torch.Tensor]:
    """The parameters the shared modules hold when this view runs, by ComfyUI key."""
    return {key: tensor.float().cpu() for key, tensor in value.patched_parameters().items()}


def assert_weights(value, expected: dict[str, torch.Tensor]) -> None:
    weights = running_weights(value)
    assert weights.keys() == expected.keys()
    for key, tensor in expected.items():
        torch.testing.assert_close(weights[key], tensor, rtol=1e-6, atol=1e-6, msg=key)


def test_comfy_key_names_cover_every_unet_and_clip_weight_of_the_file(loaded, first):
    (model, clip, _), _ = loaded
    files = unet_file_weights(first)
    assert set(model.model_state_dict()) == set(files)
    assert ATTN1_Q in files and ATTN2_K in files
    assert set(clip.model_state_dict()) == set(clip_file_weights(first))
    assert set(model.get_key_patches("diffusion_model.input_blocks.1.")) == \
        {key for key in files if key.startswith("diffusion_model.input_blocks.1.")}


@pytest.mark.parametrize("ratio", [0.3, 1.0])
def test_model_merge_simple_keeps_ratio_of_the_first(loaded, first, second, ratio):
    (model1, _, _), (model2, _, _) = loaded
    w1, w2 = unet_file_weights(first), unet_file_weights(second)
    merged, = ModelMergeSimple().merge(model1, model2, ratio)
    assert merged is not model1 and model1.loras == ()
    assert_weights(merged, {key: ratio * w1[key] + (1 - ratio) * w2[key] for key in w1})


def test_the_base_models_come_back_exactly_after_a_merge_ran(loaded, first):
    (model1, _, _), (model2, _, _) = loaded
    layer = model1.unet.get_submodule("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q")
    model1.prepare()  # an earlier test may have left another view on the shared module
    base = layer.weight
    merged, = ModelMergeSimple().merge(model1, model2, 0.5)
    merged.prepare()
    assert layer.weight is not base
    model1.prepare()
    assert layer.weight is base
    assert torch.equal(base.float(), unet_file_weights(first)[ATTN1_Q])


def test_subtract_and_add(loaded, first, second):
    (model1, _, _), (model2, _, _) = loaded
    w1, w2 = unet_file_weights(first), unet_file_weights(second)
    difference, = ModelMergeSubtract().merge(model1, model2, 2.5)
    assert_weights(difference, {key: 2.5 * (w1[key] - w2[key]) for key in w1})
    total, = ModelMergeAdd().merge(model1, model2)
    assert_weights(total, {key: w1[key] + w2[key] for key in w1})
    # the difference added back onto model2 gives model1 (its own patches travel with get_key_patches)
    back, = ModelMergeAdd().merge(model2, ModelMergeSubtract().merge(model1, model2, 1.0)[0])
    assert_weights(back, w1)


def test_merge_blocks_takes_the_longest_matching_block_name(loaded, first, second):
    (model1, _, _), (model2, _, _) = loaded
    w1, w2 = unet_file_weights(first), unet_file_weights(second)
    merged, = ModelMergeBlocks().merge(model1, model2, input=0.2, middle=0.6, out=0.9)

    def ratio(key: str) -> float:
        inner = key.removeprefix("diffusion_model.")
        # "out" names both output_blocks.* and out.*; anything else (time_embed) takes the first ratio
        return 0.6 if inner.startswith("middle") else 0.9 if inner.startswith("out") else 0.2
    assert any(key.startswith("diffusion_model.time_embed") for key in w1)
    assert_weights(merged, {key: ratio(key) * w1[key] + (1 - ratio(key)) * w2[key] for key in w1})


def test_merge_sd1_ratio_per_block(loaded, first, second):
    (model1, _, _), (model2, _, _) = loaded
    w1, w2 = unet_file_weights(first), unet_file_weights(second)
    names = [name for name in ModelMergeSD1.INPUT_TYPES()["required"] if name not in ("model1", "model2")]
    assert len(names) == 30 and names[:3] == ["time_embed.", "label_emb.", "input_blocks.0."]
    ratios = {name: round(0.03 * index, 2) for index, name in enumerate(names)}
    merged, = ModelMergeSD1().merge(model1, model2, **ratios)

    def ratio(key: str) -> float:
        inner = key.removeprefix("diffusion_model.")
        # input_blocks.1. must not take input_blocks.10.'s ratio: the dot ends the block number
        return next(ratios[name] for name in sorted(ratios, key=len, reverse=True) if inner.startswith(name))
    assert_weights(merged, {key: ratio(key) * w1[key] + (1 - ratio(key)) * w2[key] for key in w1})


def test_merging_a_patched_model_brings_its_patches(loaded, first, second):
    (model1, _, _), (model2, _, _) = loaded
    w1, w2 = unet_file_weights(first), unet_file_weights(second)
    boosted, = UNetSelfAttentionMultiply().patch(model2, 3.0, 1.0, 1.0, 1.0)
    merged, = ModelMergeSimple().merge(model1, boosted, 0.25)
    expected = {key: 0.25 * w1[key] + 0.75 * w2[key] for key in w1}
    q_keys = [key for key in w1 if key.endswith(("attn1.to_q.weight", "attn1.to_q.bias"))]
    assert q_keys
    for key in q_keys:
        expected[key] = 0.25 * w1[key] + 0.75 * 3.0 * w2[key]
    assert_weights(merged, expected)


def test_attention_multiply_scales_only_its_projections(loaded, first):
    (model, clip, _), _ = loaded
    w = unet_file_weights(first)
    factors = {"to_q": 0.5, "to_k": 2.0, "to_v": 1.5, "to_out.0": 0.0}
    self_patched, = UNetSelfAttentionMultiply().patch(model, 0.5, 2.0, 1.5, 0.0)
    cross_patched, = UNetCrossAttentionMultiply().patch(model, 0.5, 2.0, 1.5, 0.0)
    for patched, attention in ((self_patched, "attn1"), (cross_patched, "attn2")):
        expected = dict(w)
        for key in w:
            for projection, factor in factors.items():
                if key.endswith((f"{attention}.{projection}.weight", f"{attention}.{projection}.bias")):
                    expected[key] = w[key] * factor
        assert sum(not torch.equal(expected[k], w[k]) for k in w) >= 4
        assert_weights(patched, expected)
    assert torch.equal(running_weights(self_patched)[ATTN1_OUT_BIAS], torch.zeros_like(w[ATTN1_OUT_BIAS]))

    texts = clip_file_weights(first)
    clip_patched, = CLIPAttentionMultiply().patch(clip, 2.0, 1.0, 1.0, 1.0)
    expected = {key: value * 2.0 if ".q_proj." in key else value for key, value in texts.items()}
    assert_weights(clip_patched, expected)


def test_clip_merges(loaded, first, second):
    (_, clip1, _), (_, clip2, _) = loaded
    t1, t2 = clip_file_weights(first), clip_file_weights(second)
    merged, = CLIPMergeSimple().merge(clip1, clip2, 0.4)
    assert_weights(merged, {key: 0.4 * t1[key] + 0.6 * t2[key] for key in t1})
    difference, = CLIPMergeSubtract().merge(clip1, clip2, -1.0)
    assert_weights(difference, {key: -(t1[key] - t2[key]) for key in t1})
    total, = CLIPMergeAdd().merge(clip1, clip2)
    assert_weights(total, {key: t1[key] + t2[key] for key in t1})
    assert clip1.loras == ()


def test_merged_model_samples_as_a_model_built_from_the_merged_weights(loaded, first, second, merge_dir):
    """A prediction of the merged view equals one of a checkpoint written with the merged weights."""
    from tests.fixtures.tiny_checkpoints import save_ldm_checkpoint

    (model1, _, _), (model2, _, _) = loaded
    merged, = ModelMergeSimple().merge(model1, model2, 0.7)
    reference = type(first.unet)(first.unet.config)
    with torch.no_grad():
        for (name, param), other in zip(first.unet.named_parameters(), second.unet.parameters()):
            reference.get_parameter(name).copy_(0.7 * param + 0.3 * other)
    path = merge_dir / "merged_by_hand.safetensors"
    save_ldm_checkpoint(path, reference, first.vae, first.text_encoders, "SD1.x", torch.float32)
    by_hand = load(path)[0]
    x, t = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3)), torch.tensor([500.0])
    context = torch.randn(1, 7, 64, generator=torch.Generator().manual_seed(4))
    merged.prepare()
    ours = merged.predict(x, t, context=context)
    by_hand.prepare()
    torch.testing.assert_close(ours, by_hand.predict(x, t, context=context), rtol=1e-5, atol=1e-5)
    model1.prepare()
    assert not torch.allclose(model1.predict(x, t, context=context), ours, atol=1e-4)


def test_models_of_two_families_are_refused(loaded, xl):
    (model1, clip1, _), _ = loaded
    model_xl, clip_xl, _ = load(xl.path)
    with pytest.raises(InvalidNodeInput, match="model2 is SDXL"):
        ModelMergeSimple().merge(model1, model_xl, 0.5)
    with pytest.raises(InvalidNodeInput, match="only models of one family"):
        CLIPMergeSimple().merge(clip1, clip_xl, 0.5)


def test_sdxl_clip_keys_name_both_encoders(xl):
    _, clip, _ = load(xl.path)
    keys = clip.model_state_dict()
    assert "clip_l.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight" in keys
    assert "clip_g.transformer.text_model.encoder.layers.2.mlp.fc1.weight" in keys
    assert "clip_g.transformer.text_projection.weight" in keys
    scaled, = CLIPAttentionMultiply().patch(clip, 1.0, 0.5, 1.0, 1.0)
    weights = running_weights(scaled)
    for key in ("clip_l.transformer.text_model.encoder.layers.1.self_attn.k_proj.weight",
                "clip_g.transformer.text_model.encoder.layers.2.self_attn.k_proj.bias"):
        torch.testing.assert_close(weights[key], 0.5 * keys[key].float())
