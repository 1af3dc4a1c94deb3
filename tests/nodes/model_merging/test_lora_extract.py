"""LoraSave on a model difference (ModelMergeSubtract / CLIPMergeSubtract of two tiny SD1 checkpoints): the file's
factors against an SVD done here, and the file read back by our LoRA loader onto the second model giving the first."""
from __future__ import annotations

import shutil

import pytest
import torch
from safetensors import safe_open

from graph_engine import using_folders
from nodes.model_merging.lora_extract import LoraSave
from nodes.model_merging.merge_nodes import CLIPMergeSubtract, ModelMergeSubtract
from nodes.runtime.lora.loading import apply_lora
from tests.nodes.model_merging.file_weights import clip_file_weights, unet_file_weights

LINEAR = "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k"  # [32, 64]
CONV = "diffusion_model.input_blocks.1.0.in_layers.2"  # [32, 32, 3, 3]


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    from graph_engine import Folders

    folders = Folders.under(tmp_path_factory.mktemp("extract"))
    (folders.models / "loras").mkdir(parents=True)
    return folders


def extract(folders, loaded, name: str, **options) -> dict[str, torch.Tensor]:
    """LoraSave of (first - second) into the output folder, copied to models/loras as `name`; its tensors."""
    (model1, clip1, _), (model2, clip2, _) = loaded
    model_diff, = ModelMergeSubtract().merge(model1, model2, 1.0)
    clip_diff, = CLIPMergeSubtract().merge(clip1, clip2, 1.0)
    with using_folders(folders):
        assert LoraSave().save(f"loras/{name}", model_diff=model_diff, text_encoder_diff=clip_diff, **options) == {}
    written = folders.output / "loras" / f"{name}_00001_.safetensors"
    shutil.copy(written, folders.models / "loras" / f"{name}.safetensors")
    with safe_open(str(written), "pt") as handle:
        assert handle.metadata() is None
        return {key: handle.get_tensor(key) for key in handle.keys()}


def on_second(folders, loaded, name: str):
    """The second checkpoint's MODEL and CLIP with the extracted LoRA, as their views run."""
    (_, _, _), (model2, clip2, _) = loaded
    with using_folders(folders):
        model, clip = apply_lora(model2, clip2, f"{name}.safetensors", 1.0, 1.0)
    return ({key: t.float() for key, t in model.patched_parameters().items()},
            {key: t.float() for key, t in clip.patched_parameters().items()})


def test_full_diff_with_biases_takes_the_second_model_to_the_first(installation, loaded, first):
    tensors = extract(installation, loaded, "full", rank=8, lora_type="full_diff", bias_diff=True)
    assert tensors[f"{LINEAR}.diff"].dtype == torch.float16
    assert "text_encoders.clip_l.transformer.text_model.encoder.layers.0.self_attn.q_proj.diff_b" in tensors
    assert "diffusion_model.input_blocks.1.0.in_layers.0.diff" in tensors  # a group norm's weight
    unet, text = on_second(installation, loaded, "full")
    for weights, expected in ((unet, unet_file_weights(first)), (text, clip_file_weights(first))):
        assert weights.keys() == expected.keys()
        for key, value in expected.items():
            torch.testing.assert_close(weights[key], value, rtol=0, atol=5e-4, msg=lambda m, key=key: f"{key}: {m}")


def clamped_svd(diff: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ComfyUI's extraction, written out: U*S and Vh at the rank, clamped to +-the 0.99 quantile of both."""
    u, s, vh = torch.linalg.svd(diff.flatten(1).double(), full_matrices=False)
    rank = min(rank, len(s))
    up, down = u[:, :rank] @ torch.diag(s[:rank]), vh[:rank]
    limit = torch.quantile(torch.cat([up.flatten(), down.flatten()]), 0.99)
    return up.clamp(-limit, limit), down.clamp(-limit, limit)


def test_standard_factors_are_the_clamped_svd_and_load_as_up_at_down(installation, loaded, first, second):
    tensors = extract(installation, loaded, "rank4", rank=4, lora_type="standard", bias_diff=False)
    assert not any(key.endswith((".diff", ".diff_b")) for key in tensors)
    w1, w2 = unet_file_weights(first), unet_file_weights(second)
    for layer, shapes in ((LINEAR, ((32, 4), (4, 64))), (CONV, ((32, 4, 1, 1), (4, 32, 3, 3)))):
        up, down = tensors[f"{layer}.lora_up.weight"], tensors[f"{layer}.lora_down.weight"]
        assert (tuple(up.shape), tuple(down.shape)) == shapes
        want_up, want_down = clamped_svd(w1[f"{layer}.weight"] - w2[f"{layer}.weight"], 4)
        # an SVD fixes each factor pair up to a sign: compare the product, and the factors up to that sign
        torch.testing.assert_close((up.flatten(1).double() @ down.flatten(1).double()),
                                   want_up @ want_down, rtol=0, atol=2e-3)
        signs = torch.sign((up.flatten(1).double() * want_up).sum(0))
        torch.testing.assert_close(up.flatten(1).double() * signs, want_up, rtol=0, atol=1e-3)
    unet, _ = on_second(installation, loaded, "rank4")
    up, down = (tensors[f"{LINEAR}.lora_{part}.weight"].float() for part in ("up", "down"))
    torch.testing.assert_close(unet[f"{LINEAR}.weight"], w2[f"{LINEAR}.weight"] + up @ down, rtol=0, atol=1e-6)
    # biases and norms are not in a standard file without bias_diff: they stay the second model's
    bias = "diffusion_model.input_blocks.1.0.in_layers.2.bias"
    assert torch.equal(unet[bias], w2[bias])


def test_full_rank_is_the_difference_but_for_the_clamped_outliers_and_biases_come_too(installation, loaded, first,
                                                                                    second):
    extract(installation, loaded, "rank64", rank=64, lora_type="standard", bias_diff=True)
    w1, w2 = unet_file_weights(first), unet_file_weights(second)
    unet, _ = on_second(installation, loaded, "rank64")
    for layer in (LINEAR, CONV):
        target, got = w1[f"{layer}.weight"] - w2[f"{layer}.weight"], unet[f"{layer}.weight"] - w2[f"{layer}.weight"]
        up, down = clamped_svd(target, 64)
        torch.testing.assert_close(got.double(), (up @ down).reshape(target.shape), rtol=0, atol=2e-3)
        assert 0.01 < float((got - target).norm() / target.norm()) < 0.5  # what the 1% clamped values cost
    bias = f"{CONV}.bias"  # (attention's to_k has none)
    torch.testing.assert_close(unet[bias], w1[bias], rtol=0, atol=5e-4)
    assert not torch.allclose(w2[bias], w1[bias], atol=1e-3)


def test_nothing_to_extract_writes_nothing(installation):
    with using_folders(installation):
        assert LoraSave().save("loras/none", 8, "standard", True) == {}
    assert not (installation.output / "loras" / "none_00001_.safetensors").exists()
