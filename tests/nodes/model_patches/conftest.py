"""The tiny SD1 UNet as a MODEL."""
from __future__ import annotations

import pytest

from nodes.runtime.models import DiffusionModel


@pytest.fixture
def model(tiny_sd1) -> DiffusionModel:
    return DiffusionModel(tiny_sd1.unet, "SD1.x", "epsilon", "tiny")


@pytest.fixture(scope="session")
def unpatched_sample(tiny_sd1):
    """sampling.sampled() on the unpatched tiny SD1 UNet, computed once."""
    from tests.nodes.model_patches.sampling import sampled

    return sampled(DiffusionModel(tiny_sd1.unet, "SD1.x", "epsilon", "tiny"))
