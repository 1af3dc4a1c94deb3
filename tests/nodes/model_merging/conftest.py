"""Two tiny SD1 checkpoints (different seeds, float32 files) and a tiny SDXL one."""
from __future__ import annotations

import pytest
import torch

from tests.fixtures.tiny_checkpoints import build_sd1, build_sdxl
from tests.nodes.model_merging.file_weights import load

@pytest.fixture(scope="package")
def merge_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("merging")


@pytest.fixture(scope="package")
def first(merge_dir):
    return build_sd1(merge_dir, "first.safetensors", seed=11, dtype=torch.float32)


@pytest.fixture(scope="package")
def second(merge_dir):
    return build_sd1(merge_dir, "second.safetensors", seed=12, dtype=torch.float32)


@pytest.fixture(scope="package")
def xl(merge_dir):
    return build_sdxl(merge_dir, "xl.safetensors", seed=13, dtype=torch.float32)


@pytest.fixture(scope="package")
def loaded(first, second):
    """(MODEL, CLIP, VAE) of each SD1 checkpoint."""
    return load(first.path), load(second.path)
