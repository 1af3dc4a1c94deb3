"""The glue between the engine and the runtime: names offered without torch, model folders, cache sizes, the
out-of-memory retry around node calls."""
from __future__ import annotations

import torch

from graph_engine import Folders, NodeRegistry, Sizer
from graph_engine.engine import Engine


def test_the_names_kSampler_offers_are_the_ones_implemented():
    from nodes.runtime.sampler_names import SAMPLER_NAMES, SCHEDULER_NAMES
    from nodes.runtime.sampling import SAMPLERS, SCHEDULERS

    assert set(SAMPLER_NAMES) == set(SAMPLERS) and set(SCHEDULER_NAMES) == set(SCHEDULERS)


def test_model_lists_follow_the_folder_without_a_restart(tmp_path):
    from nodes.diffusion.loaders import CheckpointLoaderSimple
    from graph_engine import using_folders
    from model_library.folders import find_model, list_models

    folders = Folders.under(tmp_path)
    assert list_models(folders, "checkpoints") == []
    (tmp_path / "models" / "checkpoints" / "sd" / "nested").mkdir(parents=True)
    (tmp_path / "models" / "checkpoints" / "sd" / "nested" / "a.safetensors").write_bytes(b"x")
    (tmp_path / "models" / "checkpoints" / "notes.txt").write_text("not a model")
    folder = tmp_path / "models" / "checkpoints" / "my-diffusers-model"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"x")
    assert list_models(folders, "checkpoints") == ["my-diffusers-model", "sd/nested/a.safetensors"]
    with using_folders(folders):
        assert CheckpointLoaderSimple.INPUT_TYPES()["required"]["ckpt_name"][0] == list_models(folders, "checkpoints")
    for bad in ("../outside.safetensors", str(tmp_path / "abs.safetensors")):
        try:
            find_model(folders, "checkpoints", bad)
        except ValueError as error:
            assert "outside" in str(error) or "absolute" in str(error)
        else:
            raise AssertionError(f"{bad} was accepted")


def test_the_cache_counts_tensor_and_module_bytes_by_device():
    from nodes.runtime.cache_sizes import register_torch_sizes

    sizer = register_torch_sizes(Sizer())
    linear = torch.nn.Linear(100, 50)
    sizes = sizer.measure({"samples": torch.zeros(10, 10), "model": linear, "again": linear})
    assert sizes["cpu"] >= 400 + (100 * 50 + 50) * 4


class RunsOutOfMemoryOnce:
    calls = 0
    CATEGORY, RETURN_TYPES, FUNCTION, OUTPUT_NODE = "test", ("INT",), "go", True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1})}}

    def go(self, value):
        type(self).calls += 1
        if type(self).calls == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB")
        return {"ui": {"value": [value]}, "result": (value,)}


class AlwaysOutOfMemory(RunsOutOfMemoryOnce):
    def go(self, value):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB")


def test_a_node_that_runs_out_of_memory_is_retried_once_then_named_with_the_amount(tmp_path):
    from latentloom.startup import memory_retry
    from graph_engine import LRUCache

    registry = NodeRegistry()
    registry.register_mappings({"Once": RunsOutOfMemoryOnce, "Always": AlwaysOutOfMemory}, source="test")
    cache = LRUCache()
    engine = Engine(registry, Folders.under(tmp_path), cache=cache, call_wrapper=memory_retry(cache))
    result = engine.run({"1": {"class_type": "Once", "inputs": {"value": 5}}})
    assert result.status == "success" and RunsOutOfMemoryOnce.calls == 2
    failed = engine.run({"1": {"class_type": "Always", "inputs": {"value": 6}}})
    assert failed.status == "error"
    assert "Node 1 (Always)" in failed.error.exception_message
    assert "3.00 GiB" in failed.error.exception_message


def test_every_vae_attention_path_decodes_the_same_image_and_the_chooser_installs_one(studio):
    from nodes.runtime.models.vae_attention import ATTENTION_PATHS, vae_attention_layers

    _, _, vae = studio.load("sd1")
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    decoded = {}
    for name in ATTENTION_PATHS:
        for layer in vae_attention_layers(vae.module):
            layer.path = name
        with torch.no_grad():
            decoded[name] = vae.module.decode(latent)
    for name, image in decoded.items():
        assert torch.allclose(image, decoded["sdpa"], atol=1e-5), name
    for part in ("decoder", "encoder"):  # each part's choice is timed on its own layer and installed there
        chosen = vae.attention.install(vae.module, 8, 8, part=part)
        assert chosen in ATTENTION_PATHS
        layers = vae_attention_layers(getattr(vae.module, part))
        assert layers and all(layer.path == chosen for layer in layers)
