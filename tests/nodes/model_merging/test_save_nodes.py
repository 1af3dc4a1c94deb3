"""CheckpointSave, ModelSave, CLIPSave and VAESave: files in ComfyUI's layout and naming in the output folder, with
the workflow in their metadata, that our own loaders read back to the same weights and the same predictions."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors import safe_open

from graph_engine import InvalidNodeInput, using_folders
from nodes.model_merging.merge_nodes import ModelMergeSimple
from nodes.model_merging.save_nodes import CLIPSave, ModelSave, VAESave
from tests.nodes.model_merging.file_weights import clip_file_weights, unet_file_weights

WORKFLOW = {"nodes": [], "links": [], "version": 0.4}


@pytest.fixture(scope="module")
def engine(tmp_path_factory, first, second):
    from latentloom.startup import Options, build_engine

    base = tmp_path_factory.mktemp("saving")
    (base / "models" / "checkpoints").mkdir(parents=True)
    for tiny in (first, second):
        shutil.copy(tiny.path, base / "models" / "checkpoints" / tiny.path.name)
    engine, _ = build_engine(Options(base_dir=base, disable_custom_nodes=True))
    return engine


def read(path):
    with safe_open(str(path), "pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}, handle.metadata()


def prediction(model):
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    context = torch.randn(1, 7, 64, generator=torch.Generator().manual_seed(4))
    model.prepare()
    return model.predict(x, torch.tensor([400.0]), context=context)


def test_checkpoint_save_of_a_merge_reloads_to_the_merged_model(engine, first, second):
    from nodes.runtime.loading import load_checkpoint_models

    prompt = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "first.safetensors"}},
              "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "second.safetensors"}},
              "3": {"class_type": "ModelMergeSimple", "inputs": {"model1": ["1", 0], "model2": ["2", 0], "ratio": 0.3}},
              "4": {"class_type": "CLIPMergeSimple", "inputs": {"clip1": ["1", 1], "clip2": ["2", 1], "ratio": 0.6}},
              "5": {"class_type": "CheckpointSave", "inputs": {"model": ["3", 0], "clip": ["4", 0], "vae": ["2", 2],
                                                               "filename_prefix": "checkpoints/merged"}}}
    result = engine.run(prompt, extra_data={"extra_pnginfo": {"workflow": WORKFLOW}})
    assert result.status == "success", result.error
    path = engine.folders.output / "checkpoints" / "merged_00001_.safetensors"
    tensors, metadata = read(path)
    assert set(tensors) == set(first.ldm_state_dict)  # the layout the file came in
    assert json.loads(metadata["prompt"]) == prompt and json.loads(metadata["workflow"]) == WORKFLOW
    assert metadata["modelspec.predict_key"] == "epsilon" and "modelspec.architecture" not in metadata

    w1, w2 = unet_file_weights(first), unet_file_weights(second)
    for key, value in w1.items():
        torch.testing.assert_close(tensors["model." + key], 0.3 * value + 0.7 * w2[key], rtol=1e-6, atol=1e-6)
    t1, t2 = clip_file_weights(first), clip_file_weights(second)
    for key, value in t1.items():
        saved = tensors["cond_stage_model.transformer." + key.removeprefix("clip_l.transformer.")]
        torch.testing.assert_close(saved, 0.6 * value + 0.4 * t2[key], rtol=1e-6, atol=1e-6)
    assert all(torch.equal(tensors[key], value) for key, value in second.ldm_state_dict.items()
               if key.startswith("first_stage_model."))

    with using_folders(engine.folders):
        reloaded, _, _ = load_checkpoint_models(path)
        model1, _, _ = load_checkpoint_models(first.path)
        model2, _, _ = load_checkpoint_models(second.path)
        merged, = ModelMergeSimple().merge(model1, model2, 0.3)
    torch.testing.assert_close(prediction(reloaded), prediction(merged), rtol=1e-5, atol=1e-5)
    # the next save takes the next number
    assert engine.run({**prompt, "5": {**prompt["5"], "inputs": {**prompt["5"]["inputs"], "vae": ["1", 2]}}}) \
        .status == "success"
    assert (engine.folders.output / "checkpoints" / "merged_00002_.safetensors").is_file()


def test_model_clip_and_vae_saves_load_back_with_the_part_loaders(engine, loaded, first, tmp_path):
    from nodes.runtime.loading import load_diffusion_model, load_text_encoders, load_vae

    (model, clip, vae), _ = loaded
    output = engine.folders.output
    with using_folders(engine.folders):
        ModelSave().save(model, "diffusion_models/unet", prompt={"1": {}})
        CLIPSave().save(clip, "clip/text")
        VAESave().save(vae, "vae/v")
        unet, metadata = read(output / "diffusion_models" / "unet_00001_.safetensors")
        assert set(unet) == {key for key in first.ldm_state_dict if key.startswith("model.diffusion_model.")}
        assert json.loads(metadata["prompt"]) == {"1": {}}
        text, metadata = read(output / "clip" / "text_clip_l_00001_.safetensors")
        assert metadata == {"format": "pt", "prompt": ""}
        assert "text_model.encoder.layers.0.self_attn.q_proj.weight" in text
        vae_file, _ = read(output / "vae" / "v_00001_.safetensors")
        assert set(vae_file) == {key.removeprefix("first_stage_model.") for key in first.ldm_state_dict
                                 if key.startswith("first_stage_model.")}

        lone = load_diffusion_model(output / "diffusion_models" / "unet_00001_.safetensors")
        torch.testing.assert_close(prediction(lone), prediction(model))
        encoders = load_text_encoders([output / "clip" / "text_clip_l_00001_.safetensors"])
        for key, value in clip_file_weights(first).items():
            torch.testing.assert_close(encoders.model_state_dict()[key].float(), value)
        decoder = load_vae(output / "vae" / "v_00001_.safetensors")
        latent = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(decoder.decode(latent), vae.decode(latent))


def test_a_prefix_leading_outside_the_output_folder_is_refused(engine, loaded):
    (model, _, _), _ = loaded
    with using_folders(engine.folders):
        assert ModelSave.VALIDATE_INPUTS("../away") is not True
        with pytest.raises(InvalidNodeInput, match="outside"):
            ModelSave().save(model, "../away")


@pytest.mark.parametrize("family", ["sdxl", "sd2_v"])
def test_sdxl_and_v_prediction_checkpoints_keep_their_family_and_prediction(engine, merge_dir, family):
    from nodes.model_merging.save_nodes import CheckpointSave
    from nodes.runtime.loading import load_checkpoint_models
    from tests.fixtures.tiny_checkpoints import SD2_TEXT, build_sd2, build_sdxl

    tiny = build_sdxl(merge_dir, "xl_save.safetensors") if family == "sdxl" else \
        build_sd2(merge_dir, "sd2v_save.safetensors", v_prediction=True)
    with using_folders(engine.folders):
        model, clip, vae = load_checkpoint_models(tiny.path)
        CheckpointSave().save(model, clip, vae, f"checkpoints/{family}")
        path = engine.folders.output / "checkpoints" / f"{family}_00001_.safetensors"
        tensors, metadata = read(path)
        again, _, _ = load_checkpoint_models(path)
    kept = set(tiny.ldm_state_dict) - {SD2_TEXT + "text_projection", SD2_TEXT + "logit_scale"}
    if family == "sdxl":
        assert set(tensors) == kept
        assert metadata["modelspec.architecture"] == "stable-diffusion-xl-v1-base"
        assert metadata["modelspec.title"] == "sdxl 1" and metadata["modelspec.implementation"] == "sgm"
    else:  # SD2.x's OpenCLIP projection is not among the modules a CLIP holds, so it is not saved
        assert set(tensors) == kept | {"v_pred"} and metadata["modelspec.predict_key"] == "v"
    assert (again.architecture, again.prediction_type) == (tiny.architecture, tiny.prediction_type)
    for key, value in tiny.ldm_state_dict.items():
        if key in kept:
            assert torch.equal(tensors[key].float(), value.float()), key
