"""The tiny SD1 UNet as a MODEL."""
from __future__ import annotations

import pytest

from nodes.runtime.models import DiffusionModel


@pytest.fixture
def model(tiny_sd1) -> DiffusionModel:
    return DiffusionModel(tiny_sd1.unet, "SD1.x", "epsilon", "tiny")
