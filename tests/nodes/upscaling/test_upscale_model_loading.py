"""Upscale model files in their real key layouts: the detected architecture and scale, the loaded module against
the network written out plainly, and the errors for files that are not upscale models."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from nodes.runtime.checkpoints import NotACheckpointError, classify_file, load_checkpoint, open_checkpoint_file
from nodes.runtime.upscale_models import (CompactConfig, RRDBNetConfig, UpscaleModelError, detect_upscale_model,
                                          load_upscale_model)
from tests.fixtures.tiny_upscale_models import (tiny_compact, tiny_rrdbnet, write_realesrgan_pth,
                                                write_safetensors)
from tests.nodes.upscaling import reference


def shapes(state):
    return {key: tuple(value.shape) for key, value in state.items()}


@pytest.mark.parametrize("layout", ["old", "esrgan", "basicsr"])
@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_rrdbnet_config_from_each_layout(layout, scale):
    tiny = tiny_rrdbnet(layout, scale=scale, features=8, blocks=3, growth=4)
    config = detect_upscale_model(shapes(tiny.state_dict)).config
    folded = 4 if (layout, scale) == ("basicsr", 1) else 2 if (layout, scale) == ("basicsr", 2) else 1
    steps = {1: 0, 2: 1, 4: 2, 8: 3}[scale * folded]
    assert config == RRDBNetConfig(in_channels=3, out_channels=3, features=8, blocks=3, growth=4,
                                   upsamplings=steps, unshuffle=folded)
    assert config.scale == scale


@pytest.mark.parametrize("scale", [2, 4])
def test_compact_config(scale):
    tiny = tiny_compact(scale=scale, features=8, convolutions=5)
    assert detect_upscale_model(shapes(tiny.state_dict)).config == CompactConfig(
        in_channels=3, out_channels=3, features=8, convolutions=5, scale=scale)


@pytest.mark.parametrize("layout,scale", [("old", 4), ("old", 2), ("old", 1), ("esrgan", 4), ("esrgan", 8),
                                          ("basicsr", 4), ("basicsr", 2), ("basicsr", 1)])
def test_rrdbnet_output_matches_the_plain_network(tmp_path, layout, scale):
    tiny = tiny_rrdbnet(layout, scale=scale, seed=scale)
    loaded = load_upscale_model(write_safetensors(tiny.state_dict, tmp_path / "m.safetensors"))
    assert loaded.scale == scale
    x = torch.rand((2, 3, 8, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = loaded.module(x)
    assert got.shape == (2, 3, 8 * scale, 12 * scale)
    torch.testing.assert_close(got, reference.rrdbnet(tiny, x), atol=1e-5, rtol=1e-4)


def test_unshuffled_model_takes_odd_sizes(tmp_path):
    tiny = tiny_rrdbnet("basicsr", scale=2)
    loaded = load_upscale_model(write_safetensors(tiny.state_dict, tmp_path / "x2.safetensors"))
    x = torch.rand((1, 3, 7, 9), generator=torch.Generator().manual_seed(2))
    padded = torch.nn.functional.pad(x, (0, 1, 0, 1), mode="reflect")  # mirrored out to even, then cropped
    with torch.no_grad():
        got = loaded.module(x)
    assert got.shape == (1, 3, 14, 18)
    torch.testing.assert_close(got, reference.rrdbnet(tiny, padded)[..., :14, :18], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("scale", [2, 4])
def test_compact_output_matches_the_plain_network(tmp_path, scale):
    tiny = tiny_compact(scale=scale, seed=scale)
    loaded = load_upscale_model(write_safetensors(tiny.state_dict, tmp_path / "compact.safetensors"))
    x = torch.rand((1, 3, 10, 6), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = loaded.module(x)
    torch.testing.assert_close(got, reference.compact(tiny, x), atol=1e-5, rtol=1e-4)


def test_realesrgan_pth_reads_params_ema(tmp_path):
    tiny = tiny_rrdbnet("basicsr", scale=4)
    loaded = load_upscale_model(write_realesrgan_pth(tiny.state_dict, tmp_path / "RealESRGAN_x4plus.pth"))
    x = torch.rand((1, 3, 6, 6), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), reference.rrdbnet(tiny, x), atol=1e-5, rtol=1e-4)


def test_half_precision_file_runs_in_float32(tmp_path):
    tiny = tiny_compact(scale=2)
    half = {key: value.half() for key, value in tiny.state_dict.items()}
    loaded = load_upscale_model(write_safetensors(half, tmp_path / "half.safetensors"))
    assert {p.dtype for p in loaded.module.parameters()} == {torch.float32}
    assert torch.equal(loaded.module.body[0].weight, half["body.0.weight"].float())


def _write(tmp_path, name, keys):
    path = tmp_path / name
    save_file({key: torch.zeros(shape) for key, shape in keys.items()}, str(path))
    return path


def test_checkpoint_given_as_upscale_model_says_where_it_belongs(tmp_path):
    path = _write(tmp_path, "sd15.safetensors", {"model.diffusion_model.input_blocks.0.0.weight": (4, 4, 3, 3)})
    with pytest.raises(UpscaleModelError, match=r"sd15.safetensors is a checkpoint, not an upscale model: put it in "
                                                r"models/checkpoints"):
        load_upscale_model(path)


def test_lora_given_as_upscale_model_says_where_it_belongs(tmp_path):
    path = _write(tmp_path, "style.safetensors", {"lora_unet_mid_block_attentions_0_proj_in.lora_down.weight": (4, 8),
                                                  "lora_unet_mid_block_attentions_0_proj_in.lora_up.weight": (8, 4)})
    with pytest.raises(UpscaleModelError, match=r"is a LoRA, not an upscale model: put it in models/loras"):
        load_upscale_model(path)


def test_unknown_layout_names_what_was_found(tmp_path):
    path = _write(tmp_path, "swinir.safetensors", {"layers.0.residual_group.blocks.0.norm1.weight": (60,),
                                                   "conv_first.weight": (60, 3, 3, 3)})
    with pytest.raises(UpscaleModelError, match=r"not an upscale model Latentloom can load: its 2 weights "
                                                r"\('conv_first.weight', 'layers.0.residual_group.*match no upscale "
                                                r"architecture"):
        load_upscale_model(path)


def test_upscale_model_given_as_checkpoint_says_where_it_belongs(tmp_path):
    path = write_safetensors(tiny_rrdbnet("old", scale=4).state_dict, tmp_path / "4x_foolhardy.safetensors")
    with open_checkpoint_file(path) as opened:
        kind = classify_file(opened.shapes, opened.metadata)
    assert (kind.kind, kind.description) == ("upscale_model", "a 4x image upscale model (RRDBNet (ESRGAN))")
    with pytest.raises(NotACheckpointError, match=r"is a 4x image upscale model .*put it in models/upscale_models "
                                                  r"and load it with Load Upscale Model"):
        load_checkpoint(path, torch.device("cpu"), torch.float32)


def test_the_model_answers_as_a_spandrel_descriptor_for_plugins(tmp_path):
    """ComfyUI plugins call an UPSCALE_MODEL like spandrel's descriptor: .model, .scale, .to(), and called on a
    [batch, channels, height, width] tensor."""
    tiny = tiny_compact(scale=2, seed=4)
    loaded = load_upscale_model(write_safetensors(tiny.state_dict, tmp_path / "compact.safetensors"))
    assert loaded.model is loaded.module and (loaded.input_channels, loaded.output_channels) == (3, 3)
    assert loaded.to("cpu") is loaded and loaded.device.type == "cpu" and loaded.dtype == torch.float32
    x = torch.rand((1, 3, 5, 7), generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(loaded(x.double()), reference.compact(tiny, x), atol=1e-5, rtol=1e-4)
