"""An engine with the built-in nodes, the image nodes and a tiny IMAGE source node; folders under tmp_path."""
from __future__ import annotations

import pytest

import nodes
import nodes.images as image_nodes
from graph_engine import Engine, Folders, NodeRegistry
from tests.nodes.images.image_helpers import ImageSourceNode


@pytest.fixture
def folders(tmp_path) -> Folders:
    made = Folders.under(tmp_path)
    made.create()
    return made


@pytest.fixture
def engine(folders) -> Engine:
    registry = NodeRegistry()
    registry.register_mappings(nodes.NODE_CLASS_MAPPINGS, nodes.NODE_DISPLAY_NAME_MAPPINGS, source="built-in")
    registry.register_mappings(image_nodes.NODE_CLASS_MAPPINGS, image_nodes.NODE_DISPLAY_NAME_MAPPINGS, source="built-in")
    registry.register_mappings({"TestImageSource": ImageSourceNode}, source="test")
    previous = image_nodes.get_input_folder()
    image_nodes.set_input_folder(folders.input)
    yield Engine(registry, folders)
    image_nodes.set_input_folder(previous)
