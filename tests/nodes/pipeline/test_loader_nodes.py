"""VAELoader with the VAE files users download, and CLIPSetLastLayer through the nodes."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from nodes.runtime.checkpoints.ldm_layout import VAE, vae_to_ldm
from tests.nodes.pipeline import reference_loop as ref


@pytest.mark.parametrize("prefix", ["", VAE])
def test_vae_loader_reads_a_standalone_vae_file(studio, prefix):
    from nodes.diffusion.loaders import VAELoader
    from nodes.diffusion.vae import VAEDecode
    from graph_engine import using_folders
    from model_library.folders import list_models

    tiny = studio.tiny["sd1"]
    weights = {prefix + key.removeprefix(VAE): tensor.contiguous() for key, tensor in vae_to_ldm(tiny.vae).items()}
    name = f"standalone{'_prefixed' if prefix else ''}.safetensors"
    (studio.base / "models" / "vae").mkdir(parents=True, exist_ok=True)
    save_file(weights, str(studio.base / "models" / "vae" / name))
    assert name in list_models(studio.engine.folders, "vae")
    with using_folders(studio.engine.folders):  # as the engine calls the node
        assert name in VAELoader.INPUT_TYPES()["required"]["vae_name"][0]
        vae = VAELoader().load_vae(name)[0]
    samples = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = ((tiny.vae.decode(samples).sample + 1) / 2).clamp(0, 1).movedim(1, -1)
    assert torch.allclose(VAEDecode().decode(vae, {"samples": samples})[0], expected, atol=1e-4)


def test_a_checkpoint_given_to_the_vae_loader_still_gives_its_vae_but_a_lora_is_named(studio, tmp_path):
    from nodes.runtime.checkpoints import CheckpointError
    from nodes.runtime.checkpoints.vae_file import load_vae_file
    from tests.fixtures.tiny_checkpoints import write_kohya_lora

    assert load_vae_file(studio.tiny["sd1"].path) is not None  # full checkpoints carry first_stage_model.*
    with pytest.raises(CheckpointError, match="not a VAE"):
        load_vae_file(write_kohya_lora(tmp_path / "lora.safetensors"))


def test_clip_set_last_layer_conditions_on_the_chosen_layer(studio):
    from nodes.diffusion.text import CLIPSetLastLayer, CLIPTextEncode

    _, clip, _ = studio.load("sd1")
    skipped = CLIPSetLastLayer().set_last_layer(clip, -2)[0]
    got = CLIPTextEncode().encode(skipped, "a cat")[0][0][0]
    expected = ref.clip_hidden(studio.tiny["sd1"].text_encoders[0], ref.token_ids("a cat", pad=ref.EOS), -2, True)
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(CLIPTextEncode().encode(clip, "a cat")[0][0][0], expected, atol=1e-3)
    assert clip.clip_skip is None  # the original CLIP is unchanged
