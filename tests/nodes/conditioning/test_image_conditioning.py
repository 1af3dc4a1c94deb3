"""InpaintModelConditioning and InstructPixToPixConditioning with a tiny VAE, against the VAE module itself."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graph_engine import InvalidNodeInput
from nodes.diffusion.inpaint_conditioning import InpaintModelConditioning
from nodes.diffusion.ip2p import InstructPixToPixConditioning
from nodes.runtime.models.vae import Vae
from tests.fixtures.tiny_checkpoints import own_vae, perturb, tiny_vae
from tests.nodes.conditioning.cond_helpers import entry


@pytest.fixture(scope="module")
def vae() -> Vae:
    with torch.random.fork_rng():
        torch.manual_seed(5)
        module = perturb(tiny_vae(0.18215), torch.Generator().manual_seed(5))
    return Vae(module=own_vae(module), source="tiny")


def encoded(vae: Vae, image: np.ndarray) -> torch.Tensor:
    """The posterior mode of the VAE module for an image [B, H, W, 3] in 0..1."""
    pixels = torch.from_numpy(image).float().permute(0, 3, 1, 2) * 2.0 - 1.0
    with torch.no_grad():
        return vae.module.encode(pixels).mode()


def test_inpaint_conditioning_greys_out_the_mask_and_carries_image_and_mask(vae):
    rng = np.random.default_rng(0)
    assert vae.downscale == 2  # the tiny VAE: images are cropped to even sizes
    image = rng.random((1, 21, 29, 3)).astype(np.float32)  # cropped to 20x28
    mask = torch.zeros(1, 10, 14)
    mask[:, 2:6, 3:9] = 1.0
    positive, negative, latent = InpaintModelConditioning().encode(
        [entry(1.0)], [entry(2.0), entry(3.0)], torch.from_numpy(image), vae, mask, noise_mask=True)
    soft = F.interpolate(mask.unsqueeze(1), size=(21, 29), mode="bilinear")[:, :, :20, :28]
    cropped = image[:, :20, :28]
    greyed = np.where(soft.round().permute(0, 2, 3, 1).numpy() == 1.0, 0.5, cropped)
    assert len(positive) == 1 and len(negative) == 2
    for _, options in positive + negative:
        torch.testing.assert_close(options["concat_latent_image"], encoded(vae, greyed), atol=1e-5, rtol=1e-5)
        assert torch.equal(options["concat_mask"], soft)
    torch.testing.assert_close(latent["samples"], encoded(vae, cropped), atol=1e-5, rtol=1e-5)
    assert torch.equal(latent["noise_mask"], soft) and 0 < float(soft.mean()) < 1
    assert not torch.allclose(positive[0][1]["concat_latent_image"], latent["samples"], atol=1e-3)


def test_inpaint_conditioning_without_noise_mask_and_with_a_wrong_mask_batch(vae):
    image = torch.full((2, 16, 16, 3), 0.3)
    _, _, latent = InpaintModelConditioning().encode([entry(1.0)], [entry(0.0)], image, vae, torch.ones(16, 16),
                                                     noise_mask=False)
    assert set(latent) == {"samples"} and latent["samples"].shape == (2, 4, 8, 8)
    with pytest.raises(InvalidNodeInput, match="one mask for all images or one per image"):
        InpaintModelConditioning().encode([entry(1.0)], [entry(0.0)], image, vae, torch.ones(3, 16, 16))


def test_instruct_pix2pix_conditioning_carries_the_image_and_gives_an_empty_latent(vae):
    image = np.random.default_rng(1).random((1, 5, 4, 3)).astype(np.float32)  # cropped to 4 rows
    positive, negative, latent = InstructPixToPixConditioning().encode(
        [entry(1.0, strength=0.5)], [entry(0.0)], torch.from_numpy(image), vae)
    expected = encoded(vae, image[:, :4])
    for _, options in positive + negative:
        torch.testing.assert_close(options["concat_latent_image"], expected, atol=1e-5, rtol=1e-5)
    assert positive[0][1]["strength"] == 0.5
    assert torch.equal(latent["samples"], torch.zeros(1, 4, 2, 2))
