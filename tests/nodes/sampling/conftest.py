"""Fixtures for the sampling tests: the SD schedule, the toy UNet and its denoiser, fixed noise."""
from __future__ import annotations

import pytest
import torch

from nodes.runtime.sampling import Denoiser, sd_schedule
from tests.nodes.sampling.toy_models import LATENT_SHAPE, ToyUNet


@pytest.fixture(scope="session")
def schedule():
    return sd_schedule()


@pytest.fixture
def unet() -> ToyUNet:
    return ToyUNet()


@pytest.fixture
def denoiser(unet, schedule) -> Denoiser:
    return Denoiser(unet, schedule)


@pytest.fixture
def noise() -> torch.Tensor:
    return torch.randn(LATENT_SHAPE, generator=torch.Generator().manual_seed(1234))
