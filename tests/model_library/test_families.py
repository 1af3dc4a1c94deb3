"""Models of families Latentloom cannot run are named for their family, from their headers, as valid files; the loader
says the same; Stable Diffusion files and LoRAs of other families are not mistaken for them."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from model_library.identify import identify_model
from nodes.runtime.checkpoints import NotACheckpointError, UnknownArchitectureError, load_checkpoint
from nodes.runtime.checkpoints.families import foreign_family
from tests.fixtures.foreign_models import DIFFUSION_MODELS, FLUX1, SD35_LARGE, write_flux_vae, write_foreign_model
from tests.fixtures.tiny_checkpoints import full_size_layout

IDS = [f"{layout.family}-{index}" for index, layout in enumerate(DIFFUSION_MODELS)]


@pytest.mark.parametrize("layout", DIFFUSION_MODELS, ids=IDS)
def test_a_diffusion_model_alone_is_named_for_its_family(tmp_path, layout):
    found = identify_model(write_foreign_model(tmp_path / "model.safetensors", layout))
    assert (found.kind, found.architecture, found.problem) == ("unet", layout.family, None)
    assert found.unsupported == (f"Latentloom cannot run {layout.family} models (it runs Stable Diffusion 1.x, 2.x "
                                 f"and SDXL)")
    assert f"{layout.family} {layout.medium} model (the diffusion model alone)" in found.description
    assert found.precision == "bf16"


@pytest.mark.parametrize("layout", DIFFUSION_MODELS, ids=IDS)
def test_a_full_checkpoint_of_another_family_is_a_checkpoint_the_loader_names(tmp_path, layout):
    path = write_foreign_model(tmp_path / "full.safetensors", layout, checkpoint=True)
    found = identify_model(path)
    assert (found.kind, found.architecture, found.description) == (
        "checkpoint", layout.family, f"{'an' if layout.family.startswith(('SD', 'A', 'LTX')) else 'a'} "
                                     f"{layout.family} {layout.medium} model")
    with pytest.raises(UnknownArchitectureError) as refused:
        load_checkpoint(path)
    assert str(refused.value) == f"{path} is {found.description}: {found.unsupported}."


def test_the_loader_names_the_family_of_a_diffusion_model_alone(tmp_path):
    path = write_foreign_model(tmp_path / "flux1-dev.safetensors", FLUX1)
    with pytest.raises(NotACheckpointError, match=r"is a FLUX\.1 image model \(the diffusion model alone\), not a "
                                                  r"full checkpoint: Latentloom cannot run FLUX\.1 models"):
        load_checkpoint(path)


def test_sd35_large_is_told_from_sd3_by_its_width_alone(tmp_path):
    shapes = dict(SD35_LARGE.keys)
    assert foreign_family(shapes).name == "SD3.5"
    shapes = {key: shape for key, shape in shapes.items() if ".ln_q." not in key}
    shapes["x_embedder.proj.weight"] = (1536, 16, 2, 2)
    assert foreign_family(shapes).name == "SD3"


def test_a_flux_vae_is_a_vae_latentloom_cannot_use(tmp_path):
    found = identify_model(write_flux_vae(tmp_path / "ae.safetensors"))
    assert (found.kind, found.architecture, found.description) == ("vae", "FLUX.1 / SD3", "a VAE for FLUX.1 / SD3")
    assert "Latentloom cannot run FLUX.1 / SD3 models" in found.unsupported


@pytest.mark.parametrize("architecture", ["SD1.x", "SD2.x", "SDXL"])
def test_real_size_stable_diffusion_layouts_belong_to_no_other_family(architecture):
    layout = full_size_layout(architecture)
    assert foreign_family(layout.shapes) is None
    vae_alone = {key.removeprefix("first_stage_model."): shape for key, shape in layout.shapes.items()
                 if key.startswith("first_stage_model.")}
    assert foreign_family(vae_alone) is None


def test_tiny_stable_diffusion_checkpoints_are_supported(tiny):
    found = identify_model(tiny.path)
    assert (found.architecture, found.unsupported) == (tiny.architecture, None)


def test_a_lora_for_flux_stays_a_lora(tmp_path):
    """A LoRA's keys carry the family's block names but none of the exact keys that identify its model."""
    path = tmp_path / "flux_lora.safetensors"
    key = "diffusion_model.double_blocks.0.img_attn.qkv"
    save_file({f"{key}.lora_A.weight": torch.zeros(4, 3072), f"{key}.lora_B.weight": torch.zeros(9216, 4),
               "diffusion_model.single_blocks.0.linear1.lora_A.weight": torch.zeros(4, 3072)}, path)
    found = identify_model(path)
    assert (found.kind, found.unsupported) == ("lora", None)
