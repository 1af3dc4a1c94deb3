"""LoraLoader on a real checkpoint: the weights sampling sees, exact restore for the base, stacking, strength changes
that reread nothing, and the wrong-family message."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from tests.fixtures.example_workflows import example_prompt

ATTN2_K = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"
KOHYA_K = "lora_unet_" + ATTN2_K.replace(".", "_")
KOHYA_Q = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
RANK, ALPHA = 2, 1.0


def write_lora(studio, name: str, seed: int, *, sdxl_metadata: bool = False) -> dict:
    g = torch.Generator().manual_seed(seed)
    tensors = {f"{KOHYA_K}.lora_down.weight": torch.randn(RANK, 64, generator=g),
               f"{KOHYA_K}.lora_up.weight": torch.randn(32, RANK, generator=g),
               f"{KOHYA_K}.alpha": torch.tensor(ALPHA),
               f"{KOHYA_Q}.lora_down.weight": torch.randn(RANK, 64, generator=g),
               f"{KOHYA_Q}.lora_up.weight": torch.randn(64, RANK, generator=g)}
    folder = studio.base / "models" / "loras"
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / name), metadata={"ss_base_model_version": "sdxl_base_v1-0"} if sdxl_metadata
              else {"ss_network_dim": str(RANK)})
    return tensors


def delta(tensors, key, strength, alpha=ALPHA):
    return strength * (alpha / RANK) * tensors[f"{key}.lora_up.weight"] @ tensors[f"{key}.lora_down.weight"]


def sample(model, clip, seed=1):
    from nodes.diffusion.sampling import KSampler
    from nodes.diffusion.text import CLIPTextEncode
    from nodes.latent.latent_nodes import EmptyLatentImage

    encode = CLIPTextEncode().encode
    return KSampler().sample(model, seed, 3, 5.0, "euler", "normal", encode(clip, "a cat")[0], encode(clip, "")[0],
                             EmptyLatentImage().generate(64, 64, 1)[0])[0]["samples"]


def test_lora_views_patch_the_shared_base_and_the_base_comes_back_exactly(studio, studio_folders):
    from nodes.diffusion.lora import LoraLoader

    model, clip, _ = studio.load("sd1")
    first = write_lora(studio, "style.safetensors", seed=1)
    second = write_lora(studio, "detail.safetensors", seed=2)
    assert "style.safetensors" in LoraLoader.INPUT_TYPES()["required"]["lora_name"][0]
    layer = model.unet.get_submodule(ATTN2_K)
    base_weight = layer.weight
    base_values = base_weight.detach().clone()
    plain = sample(model, clip)

    lora_model, lora_clip = LoraLoader().load_lora(model, clip, "style.safetensors", 0.8, 1.0)
    stacked_model, stacked_clip = LoraLoader().load_lora(lora_model, lora_clip, "detail.safetensors", -0.5, 0.0)
    with_lora = sample(lora_model, lora_clip)
    assert torch.allclose(layer.weight, base_values + delta(first, KOHYA_K, 0.8), atol=1e-6)
    assert not torch.allclose(with_lora, plain, atol=1e-3)

    sample(stacked_model, stacked_clip)
    assert torch.allclose(layer.weight, base_values + delta(first, KOHYA_K, 0.8) + delta(second, KOHYA_K, -0.5),
                          atol=1e-6)

    assert torch.equal(sample(model, clip), plain)  # the base view runs on the original tensors again
    assert layer.weight is base_weight and torch.equal(layer.weight, base_values)
    assert torch.equal(sample(lora_model, lora_clip), with_lora)  # and back: switching is exact both ways


def test_changing_a_strength_rereads_no_checkpoint_and_no_lora(studio):
    write_lora(studio, "strength.safetensors", seed=3)
    prompt = example_prompt("text_to_image.json")
    prompt["4"]["inputs"]["ckpt_name"] = studio.tiny["sd1"].path.name
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"]["steps"] = 2
    prompt["20"] = {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1],
                                                           "lora_name": "strength.safetensors",
                                                           "strength_model": 1.0, "strength_clip": 1.0}}
    for node, index in (("3", 0), ("6", 1), ("7", 1)):
        prompt[node]["inputs"]["model" if index == 0 else "clip"] = ["20", index]
    first = studio.engine.run(prompt)
    prompt["20"]["inputs"]["strength_model"] = 0.3
    second = studio.engine.run(prompt)
    assert first.status == second.status == "success", (first.error, second.error)
    assert "4" in second.cached and {"20", "3"} <= set(second.executed)


def test_a_lora_for_another_family_is_refused_with_advice(studio, studio_folders):
    from nodes.diffusion.lora import LoraLoader
    from nodes.runtime.lora.lora_file import LoraFamilyError

    model, clip, _ = studio.load("sd1")
    write_lora(studio, "xl_style.safetensors", seed=4, sdxl_metadata=True)
    with pytest.raises(LoraFamilyError, match="LoRA for SDXL but the model is SD1.x"):
        LoraLoader().load_lora(model, clip, "xl_style.safetensors", 1.0, 1.0)


def test_a_lora_that_matches_nothing_is_an_error_and_a_load_is_logged_in_one_line(studio, studio_folders, caplog):
    from nodes.diffusion.lora import LoraLoader
    from nodes.runtime.lora.lora_file import LoraError

    model, clip, _ = studio.load("sd1")
    g = torch.Generator().manual_seed(5)
    save_file({"lora_unet_no_such_block_proj.lora_down.weight": torch.randn(2, 8, generator=g),
               "lora_unet_no_such_block_proj.lora_up.weight": torch.randn(8, 2, generator=g)},
              str(studio.base / "models" / "loras" / "nothing.safetensors"))
    with pytest.raises(LoraError, match="none of its 1 layers matches"):
        LoraLoader().load_lora(model, clip, "nothing.safetensors", 1.0, 1.0)
    write_lora(studio, "logged.safetensors", seed=6)
    with caplog.at_level("INFO", logger="nodes.runtime.lora.loading"):
        LoraLoader().load_lora(model, clip, "logged.safetensors", 1.0, 1.0)
    lines = [r.getMessage() for r in caplog.records if r.name == "nodes.runtime.lora.loading"]
    assert len(lines) == 1 and "kohya LoRA" in lines[0] and "2 layers matched, 0 unmatched" in lines[0]
    assert "trigger words" not in lines[0]

    tensors = write_lora(studio, "with_trigger.safetensors", seed=7)
    save_file(tensors, str(studio.base / "models" / "loras" / "with_trigger.safetensors"),
              metadata={"modelspec.trigger_phrase": "mychar, red scarf"})
    caplog.clear()
    with caplog.at_level("INFO", logger="nodes.runtime.lora.loading"):
        LoraLoader().load_lora(model, clip, "with_trigger.safetensors", 1.0, 1.0)
    line = next(r.getMessage() for r in caplog.records if r.name == "nodes.runtime.lora.loading")
    assert line.endswith("; trigger words: mychar, red scarf")


def test_two_branches_with_different_loras_on_one_checkpoint_each_get_their_own_result(studio):
    import json

    write_lora(studio, "branch_a.safetensors", seed=7)
    write_lora(studio, "branch_b.safetensors", seed=8)
    base = example_prompt("text_to_image.json")
    base["4"]["inputs"]["ckpt_name"] = studio.tiny["sd1"].path.name
    base["5"]["inputs"].update(width=64, height=64)
    base["3"]["inputs"]["steps"] = 2

    def branch(prompt, suffix, lora):
        prompt["L" + suffix] = {"class_type": "LoraLoader", "inputs": {
            "model": ["4", 0], "clip": ["4", 1], "lora_name": lora, "strength_model": 1.0, "strength_clip": 1.0}}
        for node in ("3", "6", "7", "8", "9"):
            prompt[node + suffix] = json.loads(json.dumps(prompt[node]))
        for node in ("6", "7"):
            prompt[node + suffix]["inputs"]["clip"] = ["L" + suffix, 1]
        prompt["3" + suffix]["inputs"].update(model=["L" + suffix, 0], positive=["6" + suffix, 0],
                                              negative=["7" + suffix, 0])
        prompt["8" + suffix]["inputs"]["samples"] = ["3" + suffix, 0]
        prompt["9" + suffix]["inputs"].update(images=["8" + suffix, 0], filename_prefix="branch" + suffix)

    def pixels(result, node):
        from PIL import Image
        import numpy as np

        image = result.outputs[node]["images"][0]["filename"]
        with Image.open(studio.base / "output" / image) as opened:
            return np.asarray(opened)

    both = json.loads(json.dumps(base))
    branch(both, "a", "branch_a.safetensors")
    branch(both, "b", "branch_b.safetensors")
    together = studio.engine.run(both)
    alone = {}
    for suffix, lora in (("a", "branch_a.safetensors"), ("b", "branch_b.safetensors")):
        single = json.loads(json.dumps(base))
        branch(single, suffix, lora)
        for node in ("3", "6", "7", "8", "9"):
            del single[node]
        studio.engine.free()
        alone[suffix] = studio.engine.run(single)
    assert together.status == "success", together.error
    assert (pixels(together, "9a") == pixels(alone["a"], "9a")).all()
    assert (pixels(together, "9b") == pixels(alone["b"], "9b")).all()
    assert not (pixels(together, "9a") == pixels(together, "9b")).all()
