"""Fixtures for the latent and image-size node tests (helpers live in latent_helpers.py)."""
from __future__ import annotations

import pytest

from tests.nodes.latent.latent_helpers import Runner, make_engine


@pytest.fixture
def engine(tmp_path):
    return make_engine(tmp_path)


@pytest.fixture
def runner(engine) -> Runner:
    return Runner(engine)
