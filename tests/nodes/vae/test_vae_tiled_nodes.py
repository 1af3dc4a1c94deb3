"""VAEDecodeTiled and VAEEncodeTiled on the tiny SD1 checkpoint's VAE (2 pixels per latent pixel), run through the
engine: close to the whole-image decode and encode, one progress event per tile, and a clear error for an overlap the
tiles cannot hold.

Tolerance: a tile sees less of the image than the whole decode does (the VAE's convolutions and its mid-block attention
reach across the seams), so tiled results differ a little. Decoded, the mean difference is about 0.01 and the largest
about 0.08 (image values 0..1): bounds 0.02 and 0.15. Encoded, about 0.012 and 0.15 (latent values about 0.3 in size):
bounds 0.03 and 0.3. Both are far below what a real mistake costs: the whole result shifted by one pixel differs by
0.17 (image) or 0.27 (latent) on average (checked below), and a tile placed off, a seam not blended or weights not
divided out each change a whole band of values by that much. Exact placement and weights are checked on stand-ins in
test_vae_tiling_maths.py."""
from __future__ import annotations

import itertools

import pytest
import torch

from graph_engine import Engine, Folders, events
from nodes.runtime.models import Vae
from tests.fixtures.registries import builtin_registry
from tests.fixtures.tiny_checkpoints import own_vae
from tests.nodes.latent.latent_helpers import CAUGHT, TCatch

IMAGE_TOLERANCE = (0.02, 0.15)  # mean, largest
LATENT_TOLERANCE = (0.03, 0.3)
FEED: dict[str, object] = {}
_KEYS = itertools.count()


class TFeedVae:
    """Outputs the latent, image and VAE stored under `key`."""

    CATEGORY = "tests"
    RETURN_TYPES = ("LATENT", "IMAGE", "VAE")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"key": ("STRING", {"default": ""})}}

    def run(self, key):
        return FEED[key]


@pytest.fixture(scope="module")
def vae(tiny_sd1) -> Vae:
    return Vae(module=own_vae(tiny_sd1.vae), source="tiny SD1")


@pytest.fixture
def engine(tmp_path) -> Engine:
    folders = Folders.under(tmp_path)
    return Engine(builtin_registry(folders, {"TFeedVae": TFeedVae, "TCatch": TCatch}), folders)


def run_node(engine, vae, class_type, inputs, *, latent=None, image=None):
    """Run one node fed from TFeedVae; its first output and the progress events it sent."""
    key = f"vae{next(_KEYS)}"
    FEED[key] = ({"samples": latent}, image, vae)
    slot = {"samples": 0, "pixels": 1}
    wired = {name: ["feed", slot[name]] for name in slot if (latent if name == "samples" else image) is not None}
    prompt = {"feed": {"class_type": "TFeedVae", "inputs": {"key": key}},
              "n": {"class_type": class_type, "inputs": {**inputs, **wired, "vae": ["feed", 2]}},
              "out": {"class_type": "TCatch", "inputs": {"value": ["n", 0], "key": key}}}
    seen = []
    unsubscribe = engine.events.subscribe(lambda event, data: seen.append((event, data)))
    try:
        result = engine.run(prompt)
    finally:
        unsubscribe()
        FEED.pop(key)
    assert result.ok, result.error
    progress = [(data["value"], data["max"]) for event, data in seen if event == events.PROGRESS
                and data["node"] == "n"]
    return CAUGHT.pop(key), progress


def assert_close(got: torch.Tensor, expected: torch.Tensor, tolerance: tuple[float, float]) -> None:
    difference = (got - expected).abs()
    assert difference.mean() <= tolerance[0] and difference.max() <= tolerance[1], (difference.mean(),
                                                                                    difference.max())


def test_a_tiled_decode_is_close_to_the_whole_decode_with_progress_per_tile(engine, vae):
    latent = torch.randn(2, 4, 20, 20, generator=torch.Generator().manual_seed(0))
    image, progress = run_node(engine, vae, "VAEDecodeTiled",
                               {"tile_size": 64, "overlap": 64, "temporal_size": 64, "temporal_overlap": 8},
                               latent=latent)
    whole = vae.decode(latent)
    assert image.shape == whole.shape == (2, 40, 40, 3)
    assert_close(image, whole, IMAGE_TOLERANCE)
    # Tiles of 64 pixels are 32 latent pixels; the overlap is cut to a quarter of the tile, 16 pixels (8 latent).
    # Per image: the tall pass (64 x 16) has columns at 0 and 8, the wide pass (16 x 64) rows at 0 and 8, and the
    # square pass (32 x 32) one tile: 5 tiles, 10 for the batch.
    assert progress == [(done, 10) for done in range(1, 11)]
    with pytest.raises(AssertionError):  # the tolerance catches a one-pixel shift
        assert_close(torch.roll(whole, 1, dims=1), whole, IMAGE_TOLERANCE)


def test_a_tiled_encode_is_close_to_the_whole_encode_with_progress_per_tile(engine, vae):
    image = vae.decode(torch.randn(1, 4, 24, 24, generator=torch.Generator().manual_seed(1)))  # an image it knows
    latent, progress = run_node(engine, vae, "VAEEncodeTiled",
                                {"tile_size": 64, "overlap": 16, "temporal_size": 64, "temporal_overlap": 8},
                                image=image)
    whole = vae.encode(image)
    assert latent["samples"].shape == whole.shape == (1, 4, 24, 24)
    assert_close(latent["samples"], whole, LATENT_TOLERANCE)
    # Pixel tiles: the tall pass (128 x 32) has columns at 0 and 16, the wide pass rows at 0 and 16, the square one
    # tile (64 x 64 holds the 48 x 48 image).
    assert progress == [(done, 5) for done in range(1, 6)]
    with pytest.raises(AssertionError):
        assert_close(torch.roll(whole, 1, dims=3), whole, LATENT_TOLERANCE)


def test_an_encode_overlap_of_half_the_tile_is_refused_by_name(engine, vae):
    key = f"vae{next(_KEYS)}"
    FEED[key] = (None, torch.rand(1, 16, 16, 3), vae)
    prompt = {"feed": {"class_type": "TFeedVae", "inputs": {"key": key}},
              "n": {"class_type": "VAEEncodeTiled", "inputs": {"pixels": ["feed", 1], "vae": ["feed", 2],
                                                               "tile_size": 64, "overlap": 32, "temporal_size": 64,
                                                               "temporal_overlap": 8}},
              "out": {"class_type": "TCatch", "inputs": {"value": ["n", 0], "key": key}}}
    result = engine.run(prompt)
    FEED.pop(key)
    assert not result.ok and "overlap (32) must be less than half of tile_size (64)" in str(result.error)
