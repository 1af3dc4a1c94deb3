"""CLIPVisionLoader and CLIPVisionEncode on tiny towers in the real file layouts, against transformers' model called
directly on pixels prepared independently (PIL)."""
from __future__ import annotations

import pytest
import torch

from graph_engine import InvalidNodeInput, using_folders
from nodes.runtime.checkpoints import CheckpointError
from nodes.runtime.clip_vision import ClipVisionOutput, detect_clip_vision
from nodes.vision.clip_vision_nodes import CLIPVisionEncode, CLIPVisionLoader
from tests.fixtures.tiny_checkpoints import write_kohya_lora
from tests.fixtures.tiny_vision_models import open_clip_layout, save, tiny_clip_vision, transformers_layout
from tests.nodes.latent.latent_helpers import CAUGHT, IMAGE, Runner, make_engine
from tests.nodes.vision.pixels import clip_pixels


@pytest.fixture(scope="module")
def tower():
    return tiny_clip_vision()


def reference(tower, pixels: torch.Tensor):
    with torch.no_grad():
        return tower(pixel_values=pixels, output_hidden_states=True)


@pytest.mark.parametrize("layout", ["transformers", "open_clip"])
def test_loads_either_layout_and_encodes_as_comfyui(tower, tmp_path, layout):
    state = transformers_layout(tower) if layout == "transformers" else open_clip_layout(tower)
    save(state, tmp_path / "models" / "clip_vision" / "tiny.safetensors")
    runner = Runner(make_engine(tmp_path))
    with using_folders(runner.engine.folders):
        assert CLIPVisionLoader.INPUT_TYPES()["required"]["clip_name"][0] == ["tiny.safetensors"]
    image = torch.rand((2, 40, 50, 3), generator=torch.Generator().manual_seed(1))
    prompt, key = runner.prompt("CLIPVisionEncode", {"clip_vision": ["loader", 0], "crop": "center"},
                                {"image": (image, IMAGE)})
    prompt["loader"] = {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": "tiny.safetensors"}}
    result = runner.engine.run(prompt)
    assert result.ok, result.error
    out = CAUGHT.pop(key)
    expected = reference(tower, clip_pixels(image, 28))
    assert isinstance(out, ClipVisionOutput) and out["image_embeds"] is out.image_embeds
    assert out.image_embeds.shape == (2, 24) and out.last_hidden_state.shape == (2, 5, 32)
    torch.testing.assert_close(out.image_embeds, expected.image_embeds, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.last_hidden_state, expected.last_hidden_state, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.penultimate_hidden_states, expected.hidden_states[-2], atol=1e-5, rtol=1e-4)


def test_crop_none_squeezes_and_alpha_is_dropped(tower, tmp_path):
    save(transformers_layout(tower), tmp_path / "models" / "clip_vision" / "tiny.safetensors")
    runner = Runner(make_engine(tmp_path))
    with using_folders(runner.engine.folders):
        (vision,) = CLIPVisionLoader().load_clip("tiny.safetensors")
    image = torch.rand((1, 30, 60, 4), generator=torch.Generator().manual_seed(2))
    (squeezed,) = CLIPVisionEncode().encode(vision, image, "none")
    (cropped,) = CLIPVisionEncode().encode(vision, image, "center")
    torch.testing.assert_close(squeezed.image_embeds,
                               reference(tower, clip_pixels(image, 28, crop=False)).image_embeds, atol=1e-5, rtol=1e-4)
    assert (squeezed.image_embeds - cropped.image_embeds).abs().max() > 1e-3


def test_a_tower_without_projection_gives_its_pooled_output(tower, tmp_path):
    save(transformers_layout(tower, projection=False), tmp_path / "models" / "clip_vision" / "bare.safetensors")
    runner = Runner(make_engine(tmp_path))
    with using_folders(runner.engine.folders):
        (vision,) = CLIPVisionLoader().load_clip("bare.safetensors")
    image = torch.rand((1, 28, 28, 3), generator=torch.Generator().manual_seed(3))
    (out,) = CLIPVisionEncode().encode(vision, image, "center")
    expected = reference(tower, clip_pixels(image, 28))
    pooled = tower.vision_model.post_layernorm(expected.last_hidden_state[:, 0])
    torch.testing.assert_close(out.image_embeds, pooled, atol=1e-5, rtol=1e-4)


def test_detection_follows_comfyui_configs_for_the_real_towers():
    def shapes(width: int, layers: int, positions: int, projection: int) -> dict:
        layer = {f"vision_model.encoder.layers.{i}.mlp.fc1.weight": (4 * width, width) for i in range(layers)}
        return {"vision_model.embeddings.patch_embedding.weight": (width, 3, 14, 14),
                "vision_model.embeddings.position_embedding.weight": (positions, width),
                "visual_projection.weight": (projection, width), **layer}

    vit_l = detect_clip_vision(shapes(1024, 24, 257, 768)).config
    assert (vit_l["image_size"], vit_l["hidden_act"], vit_l["num_attention_heads"], vit_l["projection_dim"]) == \
        (224, "quick_gelu", 16, 768)
    assert detect_clip_vision(shapes(1024, 24, 577, 768)).config["image_size"] == 336
    vit_h = detect_clip_vision(shapes(1280, 32, 257, 1024)).config
    assert (vit_h["hidden_act"], vit_h["intermediate_size"], vit_h["num_hidden_layers"]) == ("gelu", 5120, 32)


def test_wrong_files_and_inputs_are_named(tower, tmp_path):
    write_kohya_lora(tmp_path / "models" / "clip_vision" / "lora.safetensors")
    runner = Runner(make_engine(tmp_path))
    with using_folders(runner.engine.folders), pytest.raises(CheckpointError, match=r"is a LoRA.*not a CLIP vision"):
        CLIPVisionLoader().load_clip("lora.safetensors")
    with pytest.raises(InvalidNodeInput, match="clip_vision must come from Load CLIP Vision"):
        CLIPVisionEncode().encode("not a model", torch.zeros((1, 8, 8, 3)), "center")
    with using_folders(runner.engine.folders):
        save(transformers_layout(tower), tmp_path / "models" / "clip_vision" / "tiny.safetensors")
        (vision,) = CLIPVisionLoader().load_clip("tiny.safetensors")
    with pytest.raises(InvalidNodeInput, match=r"image must be an RGB\(A\) IMAGE .*\(1, 8, 8, 1\)"):
        CLIPVisionEncode().encode(vision, torch.zeros((1, 8, 8, 1)), "center")


def test_each_kind_of_file_is_told_where_it_belongs(tower, tmp_path):
    """The model library and the other loaders name CLIP vision models, style models and hypernetworks."""
    from nodes.runtime.checkpoints import NotACheckpointError, classify_file, load_checkpoint, open_checkpoint_file
    from tests.fixtures.tiny_vision_models import save_hypernetwork, tiny_hypernetwork, tiny_style_model

    files = {"clip_vision": save(open_clip_layout(tower), tmp_path / "vision.safetensors"),
             "style_model": save(tiny_style_model(), tmp_path / "style.safetensors"),
             "hypernetwork": save_hypernetwork(tiny_hypernetwork((320, 768)), tmp_path / "hyper.pt")}
    for kind, path in files.items():
        with open_checkpoint_file(path) as opened:
            assert classify_file(opened.shapes, opened.metadata).kind == kind
    with pytest.raises(NotACheckpointError, match="is a CLIP vision model .*put it in models/clip_vision"):
        load_checkpoint(files["clip_vision"])
