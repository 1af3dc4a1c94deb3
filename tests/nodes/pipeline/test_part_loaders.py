"""UNETLoader, CLIPLoader, DualCLIPLoader, CheckpointLoader and DiffusersLoader over tiny models in the layouts users
download: a graph built of a checkpoint's parts, each in its own file, gives the checkpoint's image."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from tests.fixtures.tiny_checkpoints import (FULL_VOCABULARY, SD1_TEXT, SD2_TEXT, SDXL_TEXT_G, SDXL_TEXT_L, UNET, VAE,
                                             build_sd1, build_sd2, build_sdxl, clip_weights, write_kohya_lora)


def write_part(state: dict[str, torch.Tensor], prefix: str, path: Path, keep_prefix: bool = False) -> str:
    """The weights of `state` under `prefix`, as one file (float16, as the checkpoint stores them); its name."""
    part = {(key if keep_prefix else key[len(prefix):]): (tensor.half() if tensor.is_floating_point() else tensor)
            .contiguous() for key, tensor in state.items() if key.startswith(prefix)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(part, str(path))
    return path.name


class Parts:
    """A base folder with tiny checkpoints and their parts in ComfyUI's folders, and the engine on it."""

    def __init__(self, base: Path) -> None:
        from latentloom.startup import Options, build_engine

        models = base / "models"
        self.base = base
        self.sd1 = build_sd1(models / "checkpoints", vocab_size=FULL_VOCABULARY)
        self.sd2 = build_sd2(models / "checkpoints", v_prediction=True, vocab_size=FULL_VOCABULARY)
        # SDXL's 256-channel size sinusoids, which a UNet without its text encoders needs to be read
        self.sdxl = build_sdxl(models / "checkpoints", vocab_size=FULL_VOCABULARY, size_embed_channels=256)
        sd1, sd2, sdxl = self.sd1.ldm_state_dict, self.sd2.ldm_state_dict, self.sdxl.ldm_state_dict
        # SD1.x in ComfyUI's legacy folder names, SDXL in the current ones: a loader searches both
        write_part(sd1, UNET, models / "unet" / "sd1_unet.safetensors")
        write_part(sd1, SD1_TEXT, models / "clip" / "sd1_clip_l.safetensors")
        write_part(sd1, VAE, models / "vae" / "sd1_vae.safetensors")
        write_part(sd2, UNET, models / "diffusion_models" / "sd2_unet.safetensors")
        write_part(sd2, SD2_TEXT, models / "text_encoders" / "sd2_open_clip_h.safetensors")
        write_part(sdxl, UNET, models / "diffusion_models" / "sdxl_unet.safetensors", keep_prefix=True)
        write_part(sdxl, SDXL_TEXT_L, models / "text_encoders" / "sdxl_clip_l.safetensors")
        write_part(sdxl, SDXL_TEXT_G, models / "text_encoders" / "sdxl_clip_g.safetensors")
        write_part(sdxl, VAE, models / "vae" / "sdxl_vae.safetensors", keep_prefix=True)
        self.engine, _ = build_engine(Options(base_dir=base, disable_custom_nodes=True))

    def image(self, loaders: dict, model: list, clip: list, vae: list, size: int = 64) -> np.ndarray:
        """The PNG a text-to-image graph over these loaders saves, as an array."""
        prompt = {
            **loaders,
            "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk", "clip": clip}},
            "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": clip}},
            "6": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
            "7": {"class_type": "KSampler", "inputs": {
                "model": model, "seed": 5, "steps": 3, "cfg": 6.0, "sampler_name": "euler", "scheduler": "normal",
                "positive": ["4", 0], "negative": ["5", 0], "latent_image": ["6", 0], "denoise": 1.0}},
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": vae}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "parts"}},
        }
        result = self.engine.run(prompt)
        assert result.ok, result.error
        saved = result.outputs["9"]["images"][0]
        return np.asarray(Image.open(self.base / "output" / saved["subfolder"] / saved["filename"]))

    def checkpoint_image(self, name: str) -> np.ndarray:
        loader = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": name}}}
        return self.image(loader, ["1", 0], ["1", 1], ["1", 2])


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> Parts:
    return Parts(tmp_path_factory.mktemp("parts"))


@pytest.fixture
def current(parts):
    from graph_engine import using_folders

    with using_folders(parts.engine.folders):  # as the engine calls node code
        yield parts.engine.folders


def weights_equal(module: torch.nn.Module, reference: torch.nn.Module) -> bool:
    mine, theirs = module.state_dict(), reference.state_dict()
    return mine.keys() == theirs.keys() and all(torch.equal(mine[key], theirs[key]) for key in mine)


# ---------------------------------------------------------------- the same image as the checkpoint

def test_sd1_unet_clip_and_vae_files_give_the_checkpoints_image(parts):
    loaders = {"1": {"class_type": "UNETLoader", "inputs": {"unet_name": "sd1_unet.safetensors",
                                                            "weight_dtype": "default"}},
               "2": {"class_type": "CLIPLoader", "inputs": {"clip_name": "sd1_clip_l.safetensors",
                                                            "type": "stable_diffusion"}},
               "3": {"class_type": "VAELoader", "inputs": {"vae_name": "sd1_vae.safetensors"}}}
    from_parts = parts.image(loaders, ["1", 0], ["2", 0], ["3", 0])
    from_checkpoint = parts.checkpoint_image(parts.sd1.path.name)
    assert from_parts.shape == (16, 16, 3)  # the tiny VAE upsamples 8x8 latents twice
    assert np.array_equal(from_parts, from_checkpoint)
    assert from_parts.std() > 1  # an image, not a flat field that any two graphs would agree on


def test_sdxl_unet_dual_clip_and_vae_files_give_the_checkpoints_image(parts):
    loaders = {"1": {"class_type": "UNETLoader", "inputs": {"unet_name": "sdxl_unet.safetensors",
                                                            "weight_dtype": "default"}},
               # bigG first: DualCLIPLoader takes the pair in either order
               "2": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "sdxl_clip_g.safetensors",
                                                                "clip_name2": "sdxl_clip_l.safetensors",
                                                                "type": "sdxl"}},
               "3": {"class_type": "VAELoader", "inputs": {"vae_name": "sdxl_vae.safetensors"}}}
    from_parts = parts.image(loaders, ["1", 0], ["2", 0], ["3", 0])
    assert np.array_equal(from_parts, parts.checkpoint_image(parts.sdxl.path.name))
    assert from_parts.std() > 1


def test_sd2_parts_are_the_checkpoints_modules_with_its_prediction_type(parts, current):
    from nodes.diffusion.loaders import CheckpointLoaderSimple
    from nodes.diffusion.model_loaders import CLIPLoader, UNETLoader
    from nodes.diffusion.text import CLIPTextEncode

    model = UNETLoader().load_unet("sd2_unet.safetensors", "default")[0]
    clip = CLIPLoader().load_clip("sd2_open_clip_h.safetensors", "stable_diffusion")[0]
    assert (model.architecture, model.prediction_type, clip.architecture) == ("SD2.x", "v_prediction", "SD2.x")
    assert model.unet.config.upcast_attention and weights_equal(model.unet, parts.sd2.unet)
    whole_model, whole, _ = CheckpointLoaderSimple().load_checkpoint(parts.sd2.path.name)
    assert dict(model.unet.config) == dict(whole_model.unet.config)  # heads, upcast: what weights cannot show
    assert torch.equal(CLIPTextEncode().encode(clip, "a red fox")[0][0][0],
                       CLIPTextEncode().encode(whole, "a red fox")[0][0][0])


def test_both_folder_names_are_listed_for_each_loader(parts, current):
    from nodes.diffusion.model_loaders import CLIPLoader, DualCLIPLoader, UNETLoader

    unets = UNETLoader.INPUT_TYPES()["required"]["unet_name"][0]
    clips = CLIPLoader.INPUT_TYPES()["required"]["clip_name"][0]
    assert unets == ["sd1_unet.safetensors", "sd2_unet.safetensors", "sdxl_unet.safetensors"]
    assert clips == ["sd1_clip_l.safetensors", "sd2_open_clip_h.safetensors", "sdxl_clip_g.safetensors",
                     "sdxl_clip_l.safetensors"]
    assert DualCLIPLoader.INPUT_TYPES()["required"]["clip_name2"][0] == clips


# ---------------------------------------------------------------- layouts and weight types

def test_a_diffusers_layout_unet_file_loads_the_same_weights(parts, current):
    from nodes.diffusion.model_loaders import UNETLoader

    reference = parts.sdxl.unet
    save_file({key: tensor.contiguous() for key, tensor in reference.state_dict().items()},
              str(parts.base / "models" / "diffusion_models" / "diffusers_unet.safetensors"))
    try:
        model = UNETLoader().load_unet("diffusers_unet.safetensors", "default")[0]
    finally:
        (parts.base / "models" / "diffusion_models" / "diffusers_unet.safetensors").unlink()
    assert model.architecture == "SDXL" and weights_equal(model.unet, reference)


@pytest.mark.parametrize("choice, storage", [("fp8_e4m3fn", torch.float8_e4m3fn),
                                             ("fp8_e4m3fn_fast", torch.float8_e4m3fn),
                                             ("fp8_e5m2", torch.float8_e5m2)])
def test_fp8_weight_dtypes_compute_with_weights_rounded_to_that_type(parts, current, choice, storage):
    from nodes.diffusion.model_loaders import UNETLoader

    model = UNETLoader().load_unet("sd1_unet.safetensors", choice)[0]
    expected = {key: tensor.to(storage).float() for key, tensor in parts.sd1.unet.state_dict().items()}
    got = model.unet.state_dict()
    assert all(torch.equal(got[key], expected[key]) for key in expected)
    assert not weights_equal(model.unet, parts.sd1.unet)  # the rounding changed weights


def test_the_text_encoders_of_published_sizes_are_told_apart_by_width(tmp_path):
    """ComfyUI's clip_l / clip_g downloads: both in transformers' layout, bigG with its projection beside it."""
    from nodes.runtime.checkpoints import CheckpointError
    from nodes.runtime.checkpoints.checkpoint_file import CheckpointFile
    from nodes.runtime.checkpoints.lone_text_encoder import read_text_encoder, sd_text_encoder_specs
    from tests.fixtures.tiny_checkpoints import full_size_layout

    layout = full_size_layout("SDXL")
    clip_l = {f"text_model.{key}": tuple(t.shape) for key, t in clip_weights(layout.text_encoders[0]).items()}
    big_g = {(key if key.startswith("text_projection") else f"text_model.{key}"): tuple(t.shape)
             for key, t in clip_weights(layout.text_encoders[1]).items()}
    found = [read_text_encoder(CheckpointFile(tmp_path / name, "safetensors", shapes, {}))
             for name, shapes in (("clip_g.safetensors", big_g), ("clip_l.safetensors", clip_l))]
    architecture, planned = sd_text_encoder_specs(found)
    assert str(architecture) == "SDXL"
    assert [(spec.name, encoder.path.name, spec.config["hidden_act"], spec.config["projection_dim"])
            for spec, encoder in planned] == [("clip_l", "clip_l.safetensors", "quick_gelu", 768),
                                              ("clip_g", "clip_g.safetensors", "gelu", 1280)]
    with pytest.raises(CheckpointError, match="bigG, SDXL's second text encoder.*DualCLIPLoader"):
        sd_text_encoder_specs(found[:1])


def test_full_size_lone_unets_are_detected_with_their_published_configs():
    from nodes.runtime.checkpoints.lone_unet import detect_lone_unet
    from tests.fixtures.tiny_checkpoints import full_size_layout

    for family in ("SD1.x", "SD2.x", "SDXL"):
        layout = full_size_layout(family)
        unet_only = {key: shape for key, shape in layout.shapes.items() if key.startswith(UNET)}
        architecture, config = detect_lone_unet(unet_only)
        assert str(architecture) == family
        published = layout.unet.config
        for key in ("cross_attention_dim", "block_out_channels", "use_linear_projection",
                    "projection_class_embeddings_input_dim", "addition_time_embed_dim"):
            assert config.get(key) == (list(published[key]) if isinstance(published[key], tuple)
                                       else published[key]), (family, key)


# ---------------------------------------------------------------- wrong files and families

def test_a_full_checkpoint_given_to_the_unet_loader_is_named_with_its_place(parts, current):
    from nodes.runtime.checkpoints import CheckpointError
    from nodes.runtime.checkpoints.lone_unet import load_unet_file

    with pytest.raises(CheckpointError, match=r"is a checkpoint \(SD1\.x\), not a diffusion model alone.*"
                                              r"models/checkpoints.*CheckpointLoaderSimple"):
        load_unet_file(parts.sd1.path)


def test_a_lora_given_to_the_clip_loader_is_named_with_its_place(tmp_path):
    from nodes.runtime.checkpoints import CheckpointError
    from nodes.runtime.checkpoints.lone_text_encoder import load_text_encoder_files

    lora = write_kohya_lora(tmp_path / "style.safetensors", context_width=768, text_width=768)
    with pytest.raises(CheckpointError, match=r"is a LoRA for SD1\.x.*not a text encoder alone.*models/loras"):
        load_text_encoder_files([lora])


def test_a_unet_given_to_the_checkpoint_loader_is_sent_to_the_unet_loader(parts):
    from nodes.runtime.checkpoints import CheckpointError, load_checkpoint

    with pytest.raises(CheckpointError, match=r"diffusion model \(UNet\).*models/diffusion_models.*UNETLoader"):
        load_checkpoint(parts.base / "models" / "unet" / "sd1_unet.safetensors")


def test_two_clip_l_files_are_not_an_sdxl_pair(parts, current):
    from nodes.diffusion.model_loaders import DualCLIPLoader
    from nodes.runtime.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match="CLIP-L and an OpenCLIP bigG"):
        DualCLIPLoader().load_clip("sd1_clip_l.safetensors", "sdxl_clip_l.safetensors", "sdxl")


@pytest.mark.parametrize("node, inputs, family", [
    ("CLIPLoader", {"clip_name": "sd1_clip_l.safetensors", "type": "sd3"}, "Stable Diffusion 3"),
    ("DualCLIPLoader", {"clip_name1": "sdxl_clip_l.safetensors", "clip_name2": "sdxl_clip_g.safetensors",
                        "type": "flux"}, "FLUX.1"),
])
def test_text_encoder_types_of_other_families_are_refused_by_name(current, node, inputs, family):
    from graph_engine import InvalidNodeInput
    from nodes.diffusion.model_loaders import CLIPLoader, DualCLIPLoader

    loader = {"CLIPLoader": CLIPLoader, "DualCLIPLoader": DualCLIPLoader}[node]()
    with pytest.raises(InvalidNodeInput, match=f"{family}, which Latentloom cannot run"):
        loader.load_clip(**inputs)


# ---------------------------------------------------------------- the deprecated loaders

def test_checkpoint_loader_lists_configs_and_takes_the_prediction_type_from_the_one_chosen(parts, current):
    from nodes.diffusion.model_loaders import CheckpointLoader

    configs = parts.base / "models" / "configs"
    configs.mkdir(exist_ok=True)
    (configs / "v1-inference.yaml").write_text("model:\n  params:\n    linear_start: 0.00085\n")
    (configs / "v2-inference-v.yaml").write_text("model:\n  params:\n    parameterization: \"v\"\n")
    assert CheckpointLoader.INPUT_TYPES()["required"]["config_name"][0] == ["v1-inference.yaml",
                                                                           "v2-inference-v.yaml"]
    as_v, _, _ = CheckpointLoader().load_checkpoint("v2-inference-v.yaml", parts.sd1.path.name)
    as_eps, clip, vae = CheckpointLoader().load_checkpoint("v1-inference.yaml", parts.sd2.path.name)
    assert (as_v.architecture, as_v.prediction_type) == ("SD1.x", "v_prediction")
    assert (as_eps.architecture, as_eps.prediction_type) == ("SD2.x", "epsilon")  # the file alone says v
    assert weights_equal(as_eps.unet, parts.sd2.unet) and clip.architecture == "SD2.x"


def test_diffusers_loader_lists_and_loads_diffusers_folders(parts, current):
    from nodes.diffusion.model_loaders import DiffusersLoader
    from tests.nodes.checkpoints.test_diffusers_folder import write_folder

    write_folder(parts.base / "models" / "diffusers" / "tiny-sd1", parts.sd1)
    (parts.base / "models" / "diffusers" / "notes.safetensors").write_bytes(b"")  # not a folder: not listed
    assert DiffusersLoader.INPUT_TYPES()["required"]["model_path"][0] == ["tiny-sd1"]
    model, clip, vae = DiffusersLoader().load_checkpoint("tiny-sd1")
    assert (model.architecture, clip.architecture) == ("SD1.x", "SD1.x")
    assert weights_equal(model.unet, parts.sd1.unet) and weights_equal(vae.module, parts.sd1.vae)
