"""A base folder with a tiny SD1 checkpoint and a kohya LoRA, and an engine on it, shared by the A1111 tests."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="package")
def studio(tmp_path_factory):
    from latentloom.startup import Options, build_engine
    from tests.fixtures.tiny_checkpoints import FULL_VOCABULARY, build_sd1

    base = tmp_path_factory.mktemp("a1111")
    tiny = build_sd1(base / "models" / "checkpoints", vocab_size=FULL_VOCABULARY)
    (base / "models" / "embeddings").mkdir(parents=True)
    lora = write_kohya_lora(base / "models" / "loras" / "styles" / "ink.safetensors")
    engine, _ = build_engine(Options(base_dir=base, disable_custom_nodes=True))
    return base, engine, tiny.path, lora


def write_kohya_lora(path: Path) -> Path:
    """A small kohya LoRA on the tiny SD1 UNet and text encoder, with metadata in its header."""
    import torch
    from safetensors.torch import save_file

    unet = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    text = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
    g = torch.Generator().manual_seed(11)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({f"{unet}.lora_down.weight": torch.randn(2, 64, generator=g),
               f"{unet}.lora_up.weight": torch.randn(32, 2, generator=g), f"{unet}.alpha": torch.tensor(1.0),
               f"{text}.lora_down.weight": torch.randn(2, 64, generator=g),
               f"{text}.lora_up.weight": torch.randn(64, 2, generator=g)},
              str(path), metadata={"ss_network_dim": "2"})
    return path


