"""Inpainting (9-channel) and InstructPix2Pix (8-channel) UNets sample 4-channel latents and read, beside them, the
mask and image that InpaintModelConditioning / InstructPixToPixConditioning put into the conditioning."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from transformers import CLIPTextModel

from graph_engine import Folders, using_folders
from nodes.diffusion.inpaint_conditioning import InpaintModelConditioning
from nodes.diffusion.ip2p import InstructPixToPixConditioning
from nodes.diffusion.loaders import CheckpointLoaderSimple
from nodes.diffusion.sampling import KSampler
from nodes.diffusion.text import CLIPTextEncode
from tests.fixtures.tiny_checkpoints import (FULL_VOCABULARY, perturb, save_ldm_checkpoint, tiny_clip_config,
                                             tiny_vae)

SCALE = 0.18215  # SD1's latent scale: the UNet reads the image latent in its own units


def write_checkpoint(folder, name: str, in_channels: int, seed: int) -> None:
    """A tiny SD1 checkpoint whose UNet reads `in_channels` channels, in the original single-file layout."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        unet = perturb(UNet2DConditionModel(
            sample_size=8, in_channels=in_channels, block_out_channels=(32, 64), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=64, attention_head_dim=8, norm_num_groups=32), generator)
        vae = perturb(tiny_vae(SCALE), generator)
        text = perturb(CLIPTextModel(tiny_clip_config(layers=2, activation="quick_gelu", vocab_size=FULL_VOCABULARY)),
                       generator)
    save_ldm_checkpoint(folder / name, unet, vae, (text,), "SD1.x", torch.float16)


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    base = tmp_path_factory.mktemp("image_input_models")
    checkpoints = base / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    write_checkpoint(checkpoints, "tiny_inpaint.safetensors", 9, seed=7)
    write_checkpoint(checkpoints, "tiny_ip2p.safetensors", 8, seed=8)
    folders = Folders.under(base)
    with using_folders(folders):
        yield folders


def unet_inputs(model) -> list[torch.Tensor]:
    """Records every input the UNet gets."""
    seen: list[torch.Tensor] = []
    model.unet.register_forward_pre_hook(lambda _module, args: seen.append(args[0].detach().float().clone()))
    return seen


def sample(model, positive, negative, latent, cfg=2.0):
    return KSampler().sample(model, 3, 2, cfg, "euler", "normal", positive, negative, latent)[0]


def test_an_inpainting_unet_reads_the_mask_and_masked_image_from_the_conditioning(installation):
    model, clip, vae = CheckpointLoaderSimple().load_checkpoint("tiny_inpaint.safetensors")
    assert (model.image_input, model.latent_channels) == ("inpaint", 4)
    positive, negative = CLIPTextEncode().encode(clip, "a cat")[0], CLIPTextEncode().encode(clip, "")[0]
    pixels = torch.rand(1, 16, 16, 3, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 16, 16)
    mask[:, 4:12, 2:9] = 1.0
    positive, negative, latent = InpaintModelConditioning().encode(positive, negative, pixels, vae, mask)
    seen = unet_inputs(model)
    out = sample(model, positive, negative, latent)
    assert out["samples"].shape == latent["samples"].shape == (1, 4, 8, 8)
    latent_mask = F.interpolate(mask.unsqueeze(1), size=(8, 8), mode="bilinear").round()
    masked_image = positive[0][1]["concat_latent_image"] * SCALE
    assert len(seen) == 2 and all(x.shape == (2, 9, 8, 8) for x in seen)  # cond and uncond, two steps
    for x in seen:
        torch.testing.assert_close(x[:, 4:5], latent_mask.expand(2, -1, -1, -1), atol=1e-3, rtol=0)
        torch.testing.assert_close(x[:, 5:], masked_image.expand(2, -1, -1, -1), atol=2e-3, rtol=1e-2)  # float16 UNet
    # The latent keeps its content where the (soft) noise mask is zero.
    outside = F.interpolate(latent["noise_mask"], size=(8, 8), mode="bilinear").expand(1, 4, -1, -1) == 0
    assert 0 < int(outside.sum()) < outside.numel()
    torch.testing.assert_close(out["samples"][outside], latent["samples"][outside], atol=1e-4, rtol=1e-4)


def test_without_an_inpaint_conditioning_the_unet_reads_the_noise_mask_or_nothing(installation):
    model, clip, vae = CheckpointLoaderSimple().load_checkpoint("tiny_inpaint.safetensors")
    prompt = CLIPTextEncode().encode(clip, "a cat")[0]
    samples = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    seen = unet_inputs(model)
    sample(model, prompt, prompt, {"samples": samples}, cfg=1.0)
    black = torch.tensor([0.8223, -0.6876, 0.6364, 0.1380]).view(1, 4, 1, 1).expand(1, 4, 8, 8)
    torch.testing.assert_close(seen[0][:, 4:5], torch.ones(1, 1, 8, 8), atol=1e-3, rtol=0)
    torch.testing.assert_close(seen[0][:, 5:], black, atol=1e-3, rtol=1e-3)
    noise_mask = torch.zeros(1, 8, 8)
    noise_mask[:, :, 4:] = 1.0
    seen.clear()
    sample(model, prompt, prompt, {"samples": samples, "noise_mask": noise_mask}, cfg=1.0)
    torch.testing.assert_close(seen[0][:, 4:5], noise_mask.unsqueeze(1), atol=1e-3, rtol=0)
    torch.testing.assert_close(seen[0][:, 5:], samples * SCALE, atol=2e-3, rtol=1e-2)


def test_an_instruct_pix2pix_unet_reads_the_image_unscaled(installation):
    model, clip, vae = CheckpointLoaderSimple().load_checkpoint("tiny_ip2p.safetensors")
    assert (model.image_input, model.latent_channels) == ("instruct_pix2pix", 4)
    prompt = CLIPTextEncode().encode(clip, "make it blue")[0]
    pixels = torch.rand(1, 16, 16, 3, generator=torch.Generator().manual_seed(2))
    positive, negative, latent = InstructPixToPixConditioning().encode(prompt, [], pixels, vae)
    seen = unet_inputs(model)
    out = sample(model, positive, prompt, latent, cfg=1.0)
    assert out["samples"].shape == (1, 4, 8, 8) and seen[0].shape == (1, 8, 8, 8)
    torch.testing.assert_close(seen[0][:, 4:], positive[0][1]["concat_latent_image"], atol=2e-3, rtol=1e-2)


def test_an_area_entry_gives_the_unet_the_image_input_of_its_area(installation):
    from nodes.diffusion.conditioning import ConditioningSetArea

    model, clip, vae = CheckpointLoaderSimple().load_checkpoint("tiny_inpaint.safetensors")
    prompt = CLIPTextEncode().encode(clip, "a cat")[0]
    pixels = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(3))  # a 16x16 latent
    mask = torch.zeros(1, 32, 32)
    mask[:, 8:24, 20:30] = 1.0
    positive, negative, latent = InpaintModelConditioning().encode(prompt, prompt, pixels, vae, mask)
    corner = ConditioningSetArea().append(positive, width=64, height=64, x=64, y=0, strength=1.0)[0]
    seen = unet_inputs(model)
    sample(model, corner, negative, latent, cfg=1.0)
    crops = [x for x in seen if x.shape[-2:] == (8, 8)]
    assert crops and all(x.shape[1] == 9 for x in crops)
    latent_mask = F.interpolate(mask.unsqueeze(1), size=(16, 16), mode="bilinear").round()
    torch.testing.assert_close(crops[0][:, 4:5], latent_mask[:, :, 0:8, 8:16], atol=1e-3, rtol=0)
    masked_image = positive[0][1]["concat_latent_image"] * SCALE
    torch.testing.assert_close(crops[0][:, 5:], masked_image[:, :, 0:8, 8:16], atol=2e-3, rtol=1e-2)
