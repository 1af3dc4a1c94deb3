"""Loaded modules equal the modules the tiny checkpoints were made from: weights, forward passes, devices, dtypes."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nodes.runtime.checkpoints import load_checkpoint
from tests.fixtures.module_checks import assert_same_computation, assert_same_weights
from tests.fixtures.tiny_checkpoints import clip_weights




def meta_or_off_device(module: torch.nn.Module, device: str) -> list[str]:
    tensors = [*module.named_parameters(), *module.named_buffers()]
    return [name for name, tensor in tensors if tensor.is_meta or tensor.device.type != device]


def test_loaded_modules_hold_exactly_the_weights_they_were_made_from(tiny):
    loaded = load_checkpoint(tiny.path)

    assert loaded.architecture == tiny.architecture
    assert loaded.prediction_type == tiny.prediction_type
    assert_same_weights(loaded.unet, tiny.unet)
    assert_same_weights(loaded.vae, tiny.vae)
    assert len(loaded.text_encoders) == len(tiny.text_encoders)
    for module, reference in zip(loaded.text_encoders, tiny.text_encoders):
        assert hasattr(module, "text_projection") == hasattr(reference, "text_projection")  # ours vs transformers
        assert_same_weights(module, reference)


def test_nothing_is_left_on_the_meta_device_and_nothing_trains(tiny):
    loaded = load_checkpoint(tiny.path)
    for module in (loaded.unet, loaded.vae, *loaded.text_encoders):
        assert meta_or_off_device(module, "cpu") == []
        assert not module.training
        assert not any(p.requires_grad for p in module.parameters())


@torch.no_grad()
def test_loaded_modules_compute_what_the_reference_modules_compute(tiny):
    """Equal weights are not enough: heads, activations and projections come from the inferred configs."""
    loaded = load_checkpoint(tiny.path)
    assert_same_computation(loaded, tiny)


def test_loaded_modules_equal_diffusers_own_conversion_of_the_same_file(tiny):
    """diffusers' converters, run on the whole file in memory, give the weights our streaming load gives."""
    from diffusers.loaders.single_file_utils import (convert_ldm_clip_checkpoint, convert_ldm_unet_checkpoint,
                                                     convert_ldm_vae_checkpoint, convert_open_clip_checkpoint)

    loaded = load_checkpoint(tiny.path)
    everything = {k: v.float() if v.is_floating_point() else v for k, v in load_file(tiny.path).items()}
    pairs = [(loaded.unet, convert_ldm_unet_checkpoint(everything, loaded.detected.unet_config)),
             (loaded.vae, convert_ldm_vae_checkpoint(everything, loaded.detected.vae_config))]
    for spec, module in zip(loaded.detected.text_encoders, loaded.text_encoders):
        theirs = (convert_ldm_clip_checkpoint(everything, spec.prefix) if spec.layout == "transformers" else
                  convert_open_clip_checkpoint(module, everything, spec.prefix))
        pairs.append((module, theirs))
    for module, theirs in pairs:
        ours = clip_weights(module)  # names without transformers' optional text_model. wrapper
        theirs = {name.removeprefix("text_model."): tensor for name, tensor in theirs.items()}
        assert ours.keys() <= theirs.keys(), type(module).__name__
        assert [name for name in ours if not torch.equal(ours[name], theirs[name])] == []


def test_a_half_precision_load_converts_every_floating_weight(tiny_sdxl):
    loaded = load_checkpoint(tiny_sdxl.path, dtype=torch.bfloat16)
    assert_same_weights(loaded.unet, tiny_sdxl.unet, dtype=torch.bfloat16)
    assert_same_weights(loaded.text_encoders[1], tiny_sdxl.text_encoders[1], dtype=torch.bfloat16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loading_straight_to_the_gpu(tiny_sdxl):
    loaded = load_checkpoint(tiny_sdxl.path, device="cuda", dtype=torch.float16)
    for module in (loaded.unet, loaded.vae, *loaded.text_encoders):
        assert meta_or_off_device(module, "cuda") == []
    assert_same_weights(loaded.unet.cpu(), tiny_sdxl.unet, dtype=torch.float16)


def test_importing_the_package_and_detecting_from_a_header_does_not_import_torch(tiny_sdxl):
    import subprocess

    code = (f"import sys\nfrom nodes.runtime.checkpoints import open_checkpoint_file, detect_architecture\n"
            f"d = detect_architecture(open_checkpoint_file({str(tiny_sdxl.path)!r}).shapes)\n"
            f"print(d.architecture, sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "SDXL []"
