"""unCLIPCheckpointLoader and unCLIPConditioning on a tiny SD2.x unCLIP checkpoint in the real layout: the class
input (noise-augmented image embeddings with their noise level's sinusoid) computed here with numpy from the
schedule's definition, fed to the fixture's diffusers UNet directly, against what KSampler gives."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graph_engine import InvalidNodeInput, using_folders
from nodes.diffusion.sampling import KSampler
from nodes.runtime.checkpoints import CheckpointError
from nodes.runtime.clip_vision import ClipVisionOutput
from nodes.runtime.guiders import CFGGuider
from nodes.runtime.models import DiffusionModel
from nodes.vision.clip_vision_nodes import CLIPVisionEncode
from nodes.vision.unclip_nodes import unCLIPCheckpointLoader, unCLIPConditioning
from tests.fixtures.tiny_checkpoints import build_sd2
from tests.fixtures.tiny_vision_models import build_unclip, cosine_betas
from tests.nodes.latent.latent_helpers import make_engine
from tests.nodes.vision.pixels import clip_pixels

EMBED = 24


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("unclip")
    tiny = build_unclip(root / "models" / "checkpoints")
    engine = make_engine(root)
    with using_folders(engine.folders):
        model, clip, vae, vision = unCLIPCheckpointLoader().load_checkpoint("tiny_unclip.safetensors")
    return tiny, model, vision


def sinusoid(level: int, width: int) -> np.ndarray:
    half = width // 2
    angles = level * np.exp(-math.log(10000) * np.arange(half) / half)
    return np.concatenate([np.cos(angles), np.sin(angles)])


def expected_input(items: list[tuple[np.ndarray, float, float]], seed: int) -> torch.Tensor:
    """ComfyUI's class input from (embedding, strength, noise augmentation) items, with noise from seed - 10."""
    alphas_cumprod = np.cumprod(1 - cosine_betas())

    def augment(embedding: np.ndarray, level: int) -> np.ndarray:
        noise = torch.randn((1, embedding.size), generator=torch.Generator().manual_seed(seed - 10)).numpy()[0]
        keep, scale = np.float32(np.sqrt(alphas_cumprod[level])), np.float32(np.sqrt(1 - alphas_cumprod[level]))
        return np.concatenate([keep * embedding + scale * noise, sinusoid(level, embedding.size)])

    rows = [augment(embedding, round(999 * noise)) * strength for embedding, strength, noise in items]
    if len(rows) > 1:
        rows = [augment(np.sum(rows, 0)[:items[0][0].size], round(999 * 0.05))]
    return torch.tensor(rows[0], dtype=torch.float32)[None]


def test_the_loader_gives_a_model_with_an_image_input_and_the_checkpoints_image_encoder(loaded):
    tiny, model, vision = loaded
    assert model.unet.config.class_embed_type == "projection"
    assert model.unet.config.projection_class_embeddings_input_dim == 2 * EMBED
    torch.testing.assert_close(model.unet.class_embedding.linear_1.weight,
                               tiny.checkpoint.unet.class_embedding.linear_1.weight)
    image = torch.rand((1, 30, 30, 3), generator=torch.Generator().manual_seed(1))
    (encoded,) = CLIPVisionEncode().encode(vision, image, "center")
    with torch.no_grad():
        expected = tiny.vision(pixel_values=clip_pixels(image, 28)).image_embeds
    torch.testing.assert_close(encoded.image_embeds, expected, atol=1e-5, rtol=1e-4)


def test_ksampler_feeds_the_unet_comfyuis_class_input(loaded):
    tiny, model, _ = loaded
    embeds = torch.randn((2, EMBED), generator=torch.Generator().manual_seed(2))  # two encoded images
    output = ClipVisionOutput(image_embeds=embeds)
    context = torch.randn((1, 5, 64), generator=torch.Generator().manual_seed(3))
    (positive,) = unCLIPConditioning().apply_adm([[context, {}]], output, 0.75, 0.3)
    (positive,) = unCLIPConditioning().apply_adm(positive, ClipVisionOutput(image_embeds=embeds[:1] * 2), 0.5, 0.0)
    assert [len(entry[1]["unclip_conditioning"]) for entry in positive] == [2]
    latent = {"samples": torch.zeros((1, 4, 8, 8))}
    seed = 42
    (out,) = KSampler().sample(model, seed, 1, 1.0, "euler", "normal", positive, [], latent, 1.0)

    # one Euler step from sigma_max (the noise scaled by sqrt(1 + sigma^2) there) lands on the x0 prediction
    class_input = expected_input([(embeds[0].numpy(), 0.75, 0.3), (embeds[1].numpy(), 0.75, 0.3),
                                  (embeds[0].numpy() * 2, 0.5, 0.0)], seed)
    sigma = model.schedule.sigmas[-1]
    noise = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(seed))
    x = noise * torch.sqrt(1 + sigma ** 2)
    with torch.no_grad():
        eps = tiny.checkpoint.unet(x / torch.sqrt(sigma ** 2 + 1), torch.tensor([999.0]),
                                   context, class_labels=class_input)
    expected = (x - sigma * eps) / 0.18215
    assert model.prediction_type == "epsilon"
    torch.testing.assert_close(out["samples"], expected, atol=1e-4, rtol=1e-4)


def test_one_image_is_its_own_input_and_entries_without_one_read_zeros(loaded):
    tiny, model, _ = loaded
    embeds = torch.randn((1, EMBED), generator=torch.Generator().manual_seed(4))
    context = torch.randn((1, 5, 64), generator=torch.Generator().manual_seed(5))
    (positive,) = unCLIPConditioning().apply_adm([[context, {}]], ClipVisionOutput(image_embeds=embeds), 1.5, 0.5)
    negative = [[context * 0.5, {}]]
    x = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(6))
    sigma = model.schedule.sigmas[500]
    denoiser = CFGGuider(model, positive, negative, 2.0).denoiser({"seed": 7})
    got = denoiser(x, sigma.reshape(1))

    def x0(text: torch.Tensor, class_input: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            eps = tiny.checkpoint.unet(x / torch.sqrt(sigma ** 2 + 1), torch.tensor([500.0]),
                                       text, class_labels=class_input)
        return x - sigma * eps

    cond = x0(context, expected_input([(embeds[0].numpy(), 1.5, 0.5)], 7))
    uncond = x0(context * 0.5, torch.zeros((1, 2 * EMBED)))
    torch.testing.assert_close(got, uncond + (cond - uncond) * 2.0, atol=1e-4, rtol=1e-4)


def test_strength_zero_changes_nothing_and_mismatches_are_named(loaded, tmp_path):
    _, model, _ = loaded
    conditioning = [[torch.zeros((1, 5, 64)), {}]]
    (same,) = unCLIPConditioning().apply_adm(conditioning, ClipVisionOutput(image_embeds=torch.ones(1, 8)), 0.0, 0.0)
    assert same is conditioning
    (wrong,) = unCLIPConditioning().apply_adm(conditioning, ClipVisionOutput(image_embeds=torch.ones(1, 8)), 1.0, 0.0)
    with pytest.raises(InvalidNodeInput, match="reads image embeddings of width 24.*has width 8"):
        CFGGuider(model, wrong).denoiser()(torch.zeros((1, 4, 8, 8)), model.schedule.sigmas[10].reshape(1))

    build_sd2(tmp_path / "models" / "checkpoints", name="plain.safetensors")
    engine = make_engine(tmp_path)
    with using_folders(engine.folders), pytest.raises(CheckpointError, match="not an unCLIP checkpoint"):
        unCLIPCheckpointLoader().load_checkpoint("plain.safetensors")


def test_sdxl_reads_image_embeddings_in_place_of_the_pooled_text(tiny_sdxl):
    model = DiffusionModel(tiny_sdxl.unet, "SDXL", "epsilon", "tiny")  # pooled width 32
    embeds = torch.randn((2, 32), generator=torch.Generator().manual_seed(8))
    context = torch.randn((1, 5, 128), generator=torch.Generator().manual_seed(9))
    text_only = [[context, {"pooled_output": torch.randn((1, 32), generator=torch.Generator().manual_seed(10))}]]
    (positive,) = unCLIPConditioning().apply_adm(text_only, ClipVisionOutput(image_embeds=embeds), 0.9, 0.1)
    x = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(11))
    sigma = model.schedule.sigmas[500]
    got = CFGGuider(model, positive).denoiser({"seed": 3})(x, sigma.reshape(1))

    pooled = expected_input([(embeds[0].numpy(), 0.9, 0.1), (embeds[1].numpy(), 0.9, 0.1)], 3)[:, :32]
    with torch.no_grad():
        eps = tiny_sdxl.unet(x / torch.sqrt(sigma ** 2 + 1), torch.tensor([500.0]), context,
                             added_cond={"text_embeds": pooled, "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]])})
    torch.testing.assert_close(got, x - sigma * eps, atol=1e-4, rtol=1e-4)
