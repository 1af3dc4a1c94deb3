"""Tiny SD1 and SDXL checkpoints loaded through load_checkpoint, with CLIP's full vocabulary so real tokens fit."""
from __future__ import annotations

import pytest
import torch

from tests.fixtures.tiny_checkpoints import build_sd1, build_sdxl

VOCABULARY = 49408  # CLIP's: the tiny encoders have 1000 rows, too few for real token ids


def with_full_vocabulary(model, seed: int):
    """Grow the token embedding to CLIP's size, keeping the trained rows and drawing the rest from `seed`."""
    old = model.text_model.embeddings.token_embedding
    generator = torch.Generator().manual_seed(seed)
    grown = torch.nn.Embedding(VOCABULARY, old.weight.shape[1])
    with torch.no_grad():
        grown.weight.copy_(torch.randn(grown.weight.shape, generator=generator) * old.weight.std())
        grown.weight[:old.weight.shape[0]] = old.weight
    model.text_model.embeddings.token_embedding = grown
    return model.eval()


@pytest.fixture(scope="module")
def sd1(tmp_path_factory):
    from nodes.runtime.checkpoints import load_checkpoint

    checkpoint = load_checkpoint(build_sd1(tmp_path_factory.mktemp("text_sd1")).path)
    for number, model in enumerate(checkpoint.text_encoders):
        with_full_vocabulary(model, seed=10 + number)
    return checkpoint


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory):
    from nodes.runtime.checkpoints import load_checkpoint

    checkpoint = load_checkpoint(build_sdxl(tmp_path_factory.mktemp("text_sdxl")).path)
    for number, model in enumerate(checkpoint.text_encoders):
        with_full_vocabulary(model, seed=20 + number)
    return checkpoint
