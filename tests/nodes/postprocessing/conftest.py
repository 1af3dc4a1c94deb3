"""Fixtures for the post-processing node tests: an engine with the built-ins and a runner that feeds tensors in."""
from __future__ import annotations

import pytest

from tests.nodes.latent.latent_helpers import Runner, make_engine


@pytest.fixture
def runner(tmp_path) -> Runner:
    return Runner(make_engine(tmp_path))
