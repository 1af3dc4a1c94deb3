"""The built-in nodes' memory estimates, through the engine's validation: the node whose inputs ask for more than the
budget is refused by name with its estimate, sizes flow from latents to images and back, and prompt texts are capped."""
from __future__ import annotations

import pytest
from PIL import Image

from graph_engine import Engine, Folders
from nodes.diffusion.text import MAX_PROMPT_CHARACTERS
from tests.fixtures.registries import builtin_registry

MiB = 1 << 20


class Models:
    """Stands in for a checkpoint loader: validation only needs the socket types."""

    CATEGORY = "testing"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def load(self):
        raise AssertionError("these tests only validate")


@pytest.fixture
def budget():
    return {"bytes": None}


@pytest.fixture
def engine(tmp_path, budget):
    folders = Folders.under(tmp_path)
    folders.create()
    Image.new("RGB", (64, 32)).save(folders.input / "wide.png")
    return Engine(builtin_registry(folders, {"Models": Models}), folders, memory_budget=lambda: budget["bytes"])


def text_to_image(width: int, height: int, batch: int = 1, cfg: float = 8.0) -> dict:
    """The default graph's shape, on the stand-in models."""
    return {
        "models": {"class_type": "Models", "inputs": {}},
        "positive": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["models", 1]}},
        "negative": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["models", 1]}},
        "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": batch}},
        "sampler": {"class_type": "KSampler", "inputs": {
            "model": ["models", 0], "seed": 1, "steps": 1, "cfg": cfg, "sampler_name": "euler", "scheduler": "normal",
            "positive": ["positive", 0], "negative": ["negative", 0], "latent_image": ["latent", 0], "denoise": 1.0}},
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sampler", 0], "vae": ["models", 2]}},
        "show": {"class_type": "PreviewImage", "inputs": {"images": ["decode", 0]}},
    }


def refusals(engine, prompt) -> dict:
    """node id -> (error type, estimated bytes or the input named) of every error."""
    report = engine.validate(prompt)
    return {nid: [(e.type, e.extra.get("estimated_bytes", e.input_name)) for e in errors.errors]
            for nid, errors in report.node_errors.items()}


def test_a_huge_empty_latent_is_refused_by_name_with_its_bytes(engine, budget):
    budget["bytes"] = 1 << 30
    report = engine.validate(text_to_image(16384, 16384, batch=64))
    assert list(report.node_errors) == ["latent"]
    [error] = report.node_errors["latent"].errors
    assert error.type == "memory_estimate_exceeded"
    assert error.extra == {"estimated_bytes": 64 * 4 * 2048 * 2048 * 4, "available_bytes": 1 << 30}
    assert "node latent (EmptyLatentImage)" in error.message and "4.0 GiB (4294967296 bytes)" in error.message
    assert error.details.startswith("a latent of 64 x 4 x 2048 x 2048 float32 values")
    budget["bytes"] = None
    assert engine.validate(text_to_image(16384, 16384, batch=64)).ok  # no budget: nothing is refused


def test_sampling_counts_the_unets_activations_and_decoding_the_image(engine, budget):
    from nodes.runtime.models.estimates import computes_in_host_memory

    if not computes_in_host_memory():
        pytest.skip("the model computes on a device of its own: its activations are not in host memory")
    budget["bytes"] = 100 * MiB
    latent = 4 * 512 * 512 * 4  # 4096 px square: a 4 MiB latent, well within the budget
    unet_first_block = 32 * 512 * 512 * 4 * 2  # per batch: 64 MiB, twice with a negative prompt
    assert refusals(engine, text_to_image(4096, 4096)) == {
        "sampler": [("memory_estimate_exceeded", latent + 2 * latent + 3 * latent + 2 * unet_first_block)]}
    # with cfg 1 the negative prompt is skipped: sampling fits, and the 192 MiB image it decodes to does not; an image
    # this size is decoded in 512 px tiles (the whole image's VAE memory would be 4.1 GiB), so the VAE's part is one
    # tile's plus the blending buffers of the three passes (sum and weights, 3 + 1 channels, twice)
    image = 4096 * 4096 * 3 * 4
    whole = 4096 * 4096 * 4 * (32 * 2 + 3)
    tiled = 512 * 512 * 4 * (32 * 2 + 3) + 2 * (3 + 1) * 4096 * 4096 * 4
    assert tiled < whole
    assert refusals(engine, text_to_image(4096, 4096, cfg=1.0)) == {
        "decode": [("memory_estimate_exceeded", latent + image + tiled)]}


def test_latent_upscales_follow_the_latents_size_and_aspect(engine, budget):
    budget["bytes"] = 6 * MiB
    prompt = text_to_image(1024, 512, cfg=1.0)
    prompt["decode"]["inputs"]["samples"] = ["upscale", 0]
    prompt["upscale"] = {"class_type": "LatentUpscale", "inputs": {
        "samples": ["latent", 0], "upscale_method": "bilinear", "width": 0, "height": 4096, "crop": "disabled"}}
    # 8192 x 4096 px keeps the 2:1 latent's aspect: 1 x 4 x 512 x 1024 cells, 8 MiB
    assert refusals(engine, prompt) == {"upscale": [("memory_estimate_exceeded", 4 * 64 * 128 * 4 + 8 * MiB)]}
    prompt["upscale"] = {"class_type": "LatentUpscaleBy", "inputs": {
        "samples": ["latent", 0], "upscale_method": "bilinear", "scale_by": 8.0}}
    assert refusals(engine, prompt) == {"upscale": [("memory_estimate_exceeded", 4 * 64 * 128 * 4 + 8 * MiB)]}


def test_image_scaling_is_refused_from_the_loaded_images_size(engine, budget):
    budget["bytes"] = 1 << 30
    loaded = 32 * 64 * 4 * 4  # the 64 x 32 file as IMAGE and MASK
    prompt = {"load": {"class_type": "LoadImage", "inputs": {"image": "wide.png"}},
              "scale": {"class_type": "ImageScale", "inputs": {"image": ["load", 0], "upscale_method": "bilinear",
                                                              "width": 16384, "height": 16384, "crop": "disabled"}},
              "show": {"class_type": "PreviewImage", "inputs": {"images": ["scale", 0]}}}
    assert refusals(engine, prompt) == {"scale": [("memory_estimate_exceeded", 32 * 64 * 3 * 4 + 16384**2 * 12)]}
    prompt["scale"]["inputs"].update(width=0, height=8192)  # 16384 x 8192 by the file's 2:1 aspect
    assert refusals(engine, prompt) == {"scale": [("memory_estimate_exceeded", 32 * 64 * 3 * 4 + 16384 * 8192 * 12)]}
    prompt["scale"] = {"class_type": "ImageScaleBy", "inputs": {"image": ["load", 0], "upscale_method": "bilinear",
                                                                "scale_by": 8.0}}
    assert engine.validate(prompt).ok
    budget["bytes"] = loaded  # LoadImage itself needs that much
    assert refusals(engine, prompt) == {"scale": [("memory_estimate_exceeded", 32 * 64 * 3 * 4 + 256 * 512 * 12)]}


def test_encoding_an_image_counts_the_latent_and_the_vae(engine, budget):
    from nodes.runtime.models.estimates import computes_in_host_memory

    budget["bytes"] = MiB
    prompt = {"models": {"class_type": "Models", "inputs": {}},
              "load": {"class_type": "LoadImage", "inputs": {"image": "wide.png"}},
              "encode": {"class_type": "VAEEncode", "inputs": {"pixels": ["load", 0], "vae": ["models", 2]}},
              "show": {"class_type": "PreviewAny", "inputs": {"source": ["encode", 0]}}}
    vae = 32 * 64 * 4 * (32 * 2 + 3) if computes_in_host_memory() else 0
    needed = 32 * 64 * 3 * 4 + 4 * 4 * 8 * 4 + vae
    assert engine.validate(prompt).ok
    budget["bytes"] = needed - 1
    assert refusals(engine, prompt) == {"encode": [("memory_estimate_exceeded", needed)]}


def test_text_lengths_flow_through_string_nodes(engine, budget):
    budget["bytes"] = 9_999
    prompt = {"text": {"class_type": "PrimitiveString", "inputs": {"value": "ab" * 2000}},
              "replace": {"class_type": "StringReplace", "inputs": {"string": ["text", 0], "find": "a",
                                                                    "replace": "wxyz"}},
              "show": {"class_type": "PreviewAny", "inputs": {"source": ["replace", 0]}}}
    # not knowing the text, a replacement may find nothing: the 4,000 characters it holds and 4,000 new at least
    assert engine.validate(prompt).ok
    prompt["replace"]["inputs"]["string"] = "ab" * 2000  # a constant: 2,000 "a" become "wxyz", 10,000 characters
    assert refusals(engine, prompt) == {"replace": [("memory_estimate_exceeded", 10_000)]}


def test_prompt_texts_over_the_cap_are_refused_whether_written_or_made_by_nodes(engine):
    prompt = text_to_image(512, 512)
    prompt["positive"]["inputs"]["text"] = "a" * MAX_PROMPT_CHARACTERS
    assert engine.validate(prompt).ok
    prompt["positive"]["inputs"]["text"] = "x" * 12_800_000  # 12.8 MB
    report = engine.validate(prompt)
    [error] = report.node_errors["positive"].errors
    assert (error.type, error.input_name) == ("input_too_large", "text")
    assert error.message.startswith(f"The prompt is 12,800,000 characters long, more than the limit of "
                                    f"{MAX_PROMPT_CHARACTERS:,} characters")
    half = "y" * (MAX_PROMPT_CHARACTERS // 2 + 1)
    prompt["positive"]["inputs"]["text"] = ["joined", 0]
    prompt["joined"] = {"class_type": "StringConcatenate", "inputs": {"string_a": half, "string_b": half,
                                                                      "delimiter": ""}}
    assert refusals(engine, prompt) == {"positive": [("input_too_large", "text")]}


def test_a_text_over_the_cap_that_no_estimate_saw_is_refused_when_it_runs():
    from nodes.diffusion.text import CLIPTextEncode

    with pytest.raises(ValueError, match=f"more than the limit of {MAX_PROMPT_CHARACTERS:,} characters"):
        CLIPTextEncode().encode(None, "z" * (MAX_PROMPT_CHARACTERS + 1))
