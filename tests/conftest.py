"""Tiny single-file checkpoints in the original layouts, built once per session for every room of tests."""
from __future__ import annotations

import pytest

from tests.fixtures.tiny_checkpoints import TinyCheckpoint, build_sd1, build_sd2, build_sdxl


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny_checkpoints")


@pytest.fixture(scope="session")
def tiny_sd1(tiny_dir) -> TinyCheckpoint:
    return build_sd1(tiny_dir)


@pytest.fixture(scope="session")
def tiny_sd2(tiny_dir) -> TinyCheckpoint:
    return build_sd2(tiny_dir)


@pytest.fixture(scope="session")
def tiny_sd2_v(tiny_dir) -> TinyCheckpoint:
    return build_sd2(tiny_dir, v_prediction=True)


@pytest.fixture(scope="session")
def tiny_sdxl(tiny_dir) -> TinyCheckpoint:
    return build_sdxl(tiny_dir)


@pytest.fixture(params=["tiny_sd1", "tiny_sd2", "tiny_sd2_v", "tiny_sdxl"])
def tiny(request) -> TinyCheckpoint:
    """Each tiny checkpoint in turn."""
    return request.getfixturevalue(request.param)
