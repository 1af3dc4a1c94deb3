"""An engine with the built-in nodes and a source and sink for any value (the latent tests' TFeed and TCatch)."""
from __future__ import annotations

import pytest

from tests.nodes.latent.latent_helpers import Runner, make_engine


@pytest.fixture
def engine(tmp_path):
    return make_engine(tmp_path)


@pytest.fixture
def runner(engine) -> Runner:
    return Runner(engine)
