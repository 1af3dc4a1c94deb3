"""The demo checkpoint: a real file that the real loader reads as SD1.x, with SD's geometry and CLIP's token ids."""
from __future__ import annotations

import os

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from nodes.runtime.checkpoints import inspect_checkpoint, load_checkpoint
from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME, write_demo_checkpoint


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    return write_demo_checkpoint(tmp_path_factory.mktemp("demo") / DEMO_CHECKPOINT_NAME)


@pytest.fixture(scope="module")
def demo(demo_path):
    return load_checkpoint(demo_path)


def test_is_detected_as_sd1_epsilon(demo_path):
    summary = inspect_checkpoint(demo_path)
    assert summary.detected.architecture == "SD1.x"
    assert summary.prediction.prediction_type == "epsilon"
    assert summary.file_format == "safetensors"


def test_loads_and_says_it_is_a_random_weight_demo(demo_path, demo):
    assert demo.architecture == "SD1.x" and demo.prediction_type == "epsilon"
    assert "random-weights" in demo_path.name
    with safe_open(str(demo_path), framework="pt") as file:
        metadata = file.metadata()
        assert file.get_tensor("first_stage_model.encoder.conv_in.weight").dtype == torch.float16
    assert metadata["latentloom_demo"] == "random weights: images are noise"
    assert "random weights" in metadata["modelspec.title"]


def test_file_is_small(demo_path):
    assert demo_path.stat().st_size <= 15_000_000


def test_vae_has_sd_geometry(demo):
    assert demo.vae.config.scaling_factor == pytest.approx(0.18215)
    image = torch.rand(1, 3, 512, 512) * 2 - 1
    with torch.no_grad():
        latent = demo.vae.encode(image).mode()
        decoded = demo.vae.decode(latent)
    assert latent.shape == (1, 4, 64, 64)
    assert decoded.shape == (1, 3, 512, 512)


def test_text_encoder_takes_real_clip_token_ids(demo):
    encoder = demo.text_encoders[0]
    embeddings = encoder.text_model.embeddings
    assert embeddings.token_embedding.num_embeddings == 49408
    assert embeddings.position_embedding.num_embeddings == 77
    tokens = torch.full((1, 77), 49407)
    tokens[0, :3] = torch.tensor([49406, 320, 49407])  # start, "a", end, then end-of-text padding
    with torch.no_grad():
        hidden = encoder(tokens).last_hidden_state
    assert hidden.shape == (1, 77, 64)
    assert torch.isfinite(hidden).all()


def test_unet_denoises_a_512_latent_with_the_text_context(demo):
    tokens = torch.tensor([[49406, 320, 49407] + [49407] * 74])
    with torch.no_grad():
        context = demo.text_encoders[0](tokens).last_hidden_state
        noise = demo.unet(torch.randn(1, 4, 64, 64), 999, context)
    assert noise.shape == (1, 4, 64, 64)
    assert torch.isfinite(noise).all()


def test_existing_file_is_left_alone(demo_path):
    long_ago = 1_000_000_000_000_000_000  # ns; a rewrite would set the time to now
    os.utime(demo_path, ns=(long_ago, long_ago))
    before = demo_path.read_bytes()
    assert write_demo_checkpoint(demo_path, seed=123) == demo_path
    assert demo_path.stat().st_mtime_ns == long_ago
    assert demo_path.read_bytes() == before


def test_same_seed_writes_the_same_file_and_leaves_no_temporary_files(tmp_path, demo_path):
    again = write_demo_checkpoint(tmp_path / "nested" / DEMO_CHECKPOINT_NAME, seed=0)
    assert [entry.name for entry in again.parent.iterdir()] == [DEMO_CHECKPOINT_NAME]
    first, second = load_file(demo_path), load_file(again)  # the header's JSON order may differ; the tensors not
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    other = load_file(write_demo_checkpoint(tmp_path / "other.safetensors", seed=1))
    assert not torch.equal(other["model.diffusion_model.input_blocks.0.0.weight"],
                           first["model.diffusion_model.input_blocks.0.0.weight"])
