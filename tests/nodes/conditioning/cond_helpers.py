"""Helpers for the conditioning tests: hand-made CONDITIONING, and an engine that can feed it into a graph."""
from __future__ import annotations

import itertools
from typing import Any

import torch

from graph_engine import Engine, Folders
from tests.fixtures.registries import builtin_registry
from tests.nodes.latent.latent_helpers import CAUGHT, TCatch

FEED: dict[str, Any] = {}
_KEYS = itertools.count()


def entry(value: float, tokens: int = 3, width: int = 4, **options) -> list:
    """One conditioning entry whose hidden state is `value` everywhere (easy to follow through the arithmetic)."""
    return [torch.full((1, tokens, width), float(value)), dict(options)]


class CFeed:
    """Outputs the object stored under `key` as CONDITIONING and as MASK."""

    CATEGORY = "tests"
    RETURN_TYPES = ("CONDITIONING", "MASK")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"key": ("STRING", {"default": ""})}}

    def run(self, key):
        return (FEED[key], FEED[key])


def make_engine(tmp_path) -> Engine:
    folders = Folders.under(tmp_path)
    return Engine(builtin_registry(folders, {"CFeed": CFeed, "TCatch": TCatch}), folders)


def run_graph(engine: Engine, nodes: dict[str, dict], feeds: dict[str, Any], output: list) -> Any:
    """Runs `nodes` (API format) with a CFeed node per `feeds` name; returns what reaches `output` ([id, slot])."""
    key = f"c{next(_KEYS)}"
    prompt = dict(nodes)
    for name, value in feeds.items():
        FEED[f"{key}-{name}"] = value
        prompt[name] = {"class_type": "CFeed", "inputs": {"key": f"{key}-{name}"}}
    prompt["out"] = {"class_type": "TCatch", "inputs": {"value": output, "key": key}}
    result = engine.run(prompt)
    assert result.ok, result.error
    return CAUGHT.pop(key)
