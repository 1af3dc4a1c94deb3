"""An engine with the built-in nodes, a tiny IMAGE source node and a capturing output node; folders under tmp_path."""
from __future__ import annotations

import pytest

from graph_engine import Engine, Folders, using_folders
from tests.fixtures.registries import builtin_registry
from tests.nodes.images.image_helpers import CaptureNode, ImageSourceNode


@pytest.fixture
def folders(tmp_path) -> Folders:
    made = Folders.under(tmp_path)
    made.create()
    return made


@pytest.fixture
def engine(folders) -> Engine:
    return Engine(builtin_registry(folders, {"TestImageSource": ImageSourceNode, "CaptureValue": CaptureNode}), folders)


@pytest.fixture
def folders_current(folders) -> Folders:
    """`folders` current, for tests that call a node's class methods directly, as the engine calls them."""
    with using_folders(folders):
        yield folders
