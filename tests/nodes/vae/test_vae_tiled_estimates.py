"""The tiled VAE nodes' memory estimates: the image (or latent), the VAE's memory for the biggest tile instead of the
whole image, and one image's blending buffers; so a 4096 px image that VAEDecode would refuse on a small budget fits."""
from __future__ import annotations

import pytest

from graph_engine.estimate import ValueSize
from nodes.diffusion.vae import VAEDecode, VAEDecodeTiled, VAEEncodeTiled


@pytest.fixture
def host_memory():
    from nodes.runtime.models.estimates import computes_in_host_memory

    if not computes_in_host_memory():
        pytest.skip("the VAE computes on a device of its own: its activations are not in host memory")


def vae_scratch(pixels: int) -> int:
    return pixels * 4 * (32 * 2 + 3)  # float32, the demo VAE's 32 channels twice and the 3 of the image


def test_a_tiled_decode_counts_one_tile_of_the_vae(host_memory):
    sizes = {"samples": ValueSize.array((2, 4, 512, 512))}  # two 4096 px images
    tiled = VAEDecodeTiled.ESTIMATE_MEMORY({"tile_size": 512}, sizes)
    image = 2 * 4096 * 4096 * 3 * 4
    tile = vae_scratch(1024 * 256)  # each pass's tiles are 512 x 512 pixels in area: 1024 x 256, 256 x 1024, 512 x 512
    blending = 2 * 4 * 4096 * 4096 * 4  # a pass's weighted sum and weights, and the passes' sum: 3 + 1 channels each
    assert tiled.new_bytes == image + tile + blending
    assert tiled.outputs[0].shape == (2, 4096, 4096, 3)
    # VAEDecode falls back to the same tiles (512 px, as the tiled node's default) when the whole image does not fit
    assert VAEDecode.ESTIMATE_MEMORY({}, sizes).new_bytes == tiled.new_bytes < image + vae_scratch(2 * 4096 * 4096)


def test_a_small_decode_counts_the_whole_image(host_memory):
    sizes = {"samples": ValueSize.array((1, 4, 8, 8))}
    assert VAEDecode.ESTIMATE_MEMORY({}, sizes).new_bytes == 64 * 64 * 3 * 4 + vae_scratch(64 * 64)


def test_a_tiled_encode_counts_one_tile_of_the_vae_and_the_models_pixels(host_memory):
    sizes = {"pixels": ValueSize.array((1, 600, 2000, 3))}
    tiled = VAEEncodeTiled.ESTIMATE_MEMORY({"tile_size": 256}, sizes)
    latent = 4 * 75 * 250 * 4
    tile = vae_scratch(512 * 128)  # the tall pass's 512 x 128 (the wide one's 128 x 512 the same)
    blending = 2 * 5 * 75 * 250 * 4  # at the latent's size
    pixels = 600 * 2000 * 3 * 4
    assert tiled.new_bytes == latent + tile + blending + pixels
    assert tiled.outputs[0].shape == (1, 4, 75, 250)
