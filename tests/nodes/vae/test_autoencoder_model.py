"""Our AutoencoderKl against diffusers' AutoencoderKL with the same weights: the same parameter names (so files, LoRA
keys and the LDM writer address it as before), the same latents and pixels for every attention path, and a config
that keeps diffusers' keys and refuses what the module cannot build.

Tolerance 1e-5 in float32: our layers run the same operations as diffusers' (differences are float round-off, under
1e-5 here); a real mistake (a missing residual, a padding on the wrong side, a wrong scale) changes values by 0.01 or
more."""
from __future__ import annotations

import copy
import pickle
import re

import pytest
import torch
from diffusers import AutoencoderKL
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0, SlicedAttnProcessor
from diffusers.models.upsampling import Upsample2D

from nodes.runtime.models import vae_attention
from nodes.runtime.models.autoencoder import CONFIG_DEFAULTS, AutoencoderKl, Upsample
from nodes.runtime.models.model_config import ModelConfig
from nodes.runtime.models.vae_attention import ATTENTION_PATHS, vae_attention_layers
from tests.fixtures.tiny_checkpoints import own_vae, perturb

TOLERANCE = 1e-5
TINY = {"block_out_channels": (32, 64), "layers_per_block": 1}  # the tests' tiny checkpoints' VAE
SD_LIKE = {"block_out_channels": (32, 32, 64, 64), "layers_per_block": 2, "sample_size": 512}  # 8x downscale
CONFIGS = {
    "tiny": TINY,
    "sd-like": SD_LIKE,
    "no-mid-attention": {**TINY, "mid_block_add_attention": False},
    "no-quant-convs": {**TINY, "use_quant_conv": False, "use_post_quant_conv": False},
    "wider-groups": {"block_out_channels": (16, 32), "norm_num_groups": 8, "latent_channels": 8, "in_channels": 4,
                     "out_channels": 4},
}
# diffusers' processor computing what each of our paths computes
DIFFUSERS_PROCESSORS = {"sdpa": AttnProcessor2_0, "classic": AttnProcessor, "sliced": lambda: SlicedAttnProcessor(1),
                        "split": AttnProcessor2_0}


def diffusers_vae(config: dict) -> AutoencoderKL:
    levels = len(config["block_out_channels"])
    module = AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * levels,
                           up_block_types=("UpDecoderBlock2D",) * levels, **config)
    return perturb(module, torch.Generator().manual_seed(3)).eval()  # non-trivial norms and biases


def pixels(config: dict, batch: int = 2) -> torch.Tensor:
    channels = config.get("in_channels", 3)
    return torch.rand(batch, channels, 40, 56, generator=torch.Generator().manual_seed(1)) * 2 - 1


def latents(config: dict, batch: int = 2) -> torch.Tensor:
    channels = config.get("latent_channels", 4)
    return torch.randn(batch, channels, 5, 7, generator=torch.Generator().manual_seed(2))


def set_paths(module: torch.nn.Module, path: str) -> None:
    for layer in vae_attention_layers(module):
        layer.path = path


@pytest.mark.parametrize("name", CONFIGS)
def test_the_parameters_have_diffusers_names_shapes_and_order(name):
    reference = diffusers_vae(CONFIGS[name])
    ours = AutoencoderKl(reference.config)
    assert [(key, tuple(value.shape)) for key, value in ours.state_dict().items()] == \
        [(key, tuple(value.shape)) for key, value in reference.state_dict().items()]


@pytest.mark.parametrize("name", CONFIGS)
def test_encode_and_decode_give_diffusers_results(name):
    config = CONFIGS[name]
    reference = diffusers_vae(config)
    ours = own_vae(reference)
    with torch.no_grad():
        expected = reference.encode(pixels(config)).latent_dist
        got = ours.encode(pixels(config))
        torch.testing.assert_close(got.mode(), expected.mean, rtol=0, atol=TOLERANCE)
        torch.testing.assert_close(got.logvar, expected.logvar, rtol=0, atol=TOLERANCE)
        torch.testing.assert_close(ours.decode(latents(config)), reference.decode(latents(config)).sample, rtol=0,
                                   atol=TOLERANCE)


@pytest.mark.parametrize("path", ATTENTION_PATHS)
def test_each_attention_path_gives_what_diffusers_processor_gives(path, monkeypatch):
    monkeypatch.setattr(vae_attention, "QUERY_CHUNK", 16)  # several query blocks on the split path (35 tokens)
    reference = diffusers_vae(SD_LIKE)
    ours = own_vae(reference)
    reference.set_attn_processor(DIFFUSERS_PROCESSORS[path]())
    set_paths(ours, path)
    with torch.no_grad():
        torch.testing.assert_close(ours.decode(latents(SD_LIKE)), reference.decode(latents(SD_LIKE)).sample, rtol=0,
                                   atol=TOLERANCE)
        torch.testing.assert_close(ours.encode(pixels(SD_LIKE)).mode(),
                                   reference.encode(pixels(SD_LIKE)).latent_dist.mean, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("path", ATTENTION_PATHS)
def test_each_attention_path_takes_a_channels_last_input(path):
    layer = vae_attention_layers(own_vae(diffusers_vae(TINY)))[0]
    x = torch.randn(2, 64, 6, 9, generator=torch.Generator().manual_seed(4))
    layer.path = path
    with torch.no_grad():
        torch.testing.assert_close(layer(x.contiguous(memory_format=torch.channels_last)), layer(x), rtol=0,
                                   atol=TOLERANCE)


def test_the_upsampler_reaches_a_given_output_size_as_diffusers_does():
    reference = Upsample2D(32, use_conv=True, out_channels=32).eval()
    ours = Upsample(32)
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 32, 5, 7, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)
        torch.testing.assert_close(ours(x, (11, 14)), reference(x, output_size=(11, 14)), rtol=0, atol=0)


def test_the_config_keeps_every_diffusers_key_with_its_default_and_reads_as_attributes():
    reference = diffusers_vae(TINY)
    config = AutoencoderKl({**TINY, "scaling_factor": 0.13025, "_class_name": "AutoencoderKL"}).config
    assert set(config) == set(CONFIG_DEFAULTS)  # bookkeeping keys dropped; block types left out: one per level
    for key in CONFIG_DEFAULTS:
        expected = 0.13025 if key == "scaling_factor" else reference.config[key]
        assert config[key] == expected and getattr(config, key) == expected, key
    with pytest.raises(AttributeError, match="no 'missing'"):
        config.missing


def test_the_config_is_read_only_and_survives_copies():
    config = AutoencoderKl(TINY).config
    for change in (lambda: config.__setitem__("latent_channels", 8), lambda: setattr(config, "latent_channels", 8),
                   lambda: config.update(latent_channels=8), lambda: config.pop("latent_channels")):
        with pytest.raises(TypeError, match="read-only"):
            change()
    assert config.latent_channels == 4
    for copied in (copy.deepcopy(config), copy.copy(config), pickle.loads(pickle.dumps(config))):
        assert type(copied) is ModelConfig and copied == config


@pytest.mark.parametrize(("key", "value"), [
    ("act_fn", "gelu"),
    ("down_block_types", ("DownEncoderBlock2D", "AttnDownEncoderBlock2D")),
    ("up_block_types", ["UpDecoderBlock2D"]),  # one level fewer than block_out_channels
    ("norm_num_groups", 24),
    ("norm_type", "spatial"),  # not an AutoencoderKL argument
])
def test_a_config_value_the_module_cannot_build_is_refused_by_name(key, value):
    with pytest.raises(ValueError, match=f"{key}.*{re.escape(repr(value))}"):
        AutoencoderKl({**TINY, key: value})


def test_a_diffusers_folder_config_with_lists_builds():
    config = {**TINY, "block_out_channels": [32, 64], "down_block_types": ["DownEncoderBlock2D"] * 2,
              "up_block_types": ["UpDecoderBlock2D"] * 2}
    assert AutoencoderKl(config).config.block_out_channels == [32, 64]
