"""A MODEL over the SD schedule without a UNet, for the nodes that only read the schedule, and the schedule's
sigma table computed here in numpy."""
from __future__ import annotations

import numpy as np
import pytest

from nodes.runtime.models import DiffusionModel


class _Config:
    in_channels = 4


class _UNet:
    config = _Config()


@pytest.fixture(scope="module")
def model() -> DiffusionModel:
    return DiffusionModel(_UNet(), "SD1.x", "epsilon", "toy")


def table() -> np.ndarray:
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float64) ** 2
    abar = np.cumprod(1 - betas)
    return np.sqrt((1 - abar) / abar).astype(np.float32).astype(np.float64)
