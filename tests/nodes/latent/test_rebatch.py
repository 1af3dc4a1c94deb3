"""RebatchLatents and RebatchImages through the real engine's list handling: a node that outputs a list feeds
them, they take it whole (INPUT_IS_LIST) and give a list, and a later node runs once per new batch."""
from __future__ import annotations

import pytest
import torch

from graph_engine import Engine, Folders
from tests.fixtures.registries import builtin_registry

LISTS: dict[str, list] = {}
CAUGHT: dict[str, list] = {}


class TFeedList:
    """Outputs the list stored under `key` as a list output, typed LATENT and IMAGE."""

    CATEGORY = "tests"
    RETURN_TYPES = ("LATENT", "IMAGE")
    OUTPUT_IS_LIST = (True, True)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"key": ("STRING", {"default": ""})}}

    def run(self, key):
        return (LISTS[key], LISTS[key])


class TCatchList:
    """Stores the whole list it receives."""

    CATEGORY = "tests"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    INPUT_IS_LIST = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*", {}), "key": ("STRING", {"default": ""})}}

    def run(self, value, key):
        CAUGHT[key[0]] = value
        return {"ui": {"caught": [key[0]]}, "result": ()}


@pytest.fixture
def engine(tmp_path):
    folders = Folders.under(tmp_path)
    return Engine(builtin_registry(folders, {"TFeedList": TFeedList, "TCatchList": TCatchList}), folders)


def rebatch(engine, node: str, values: list, batch_size: int, slot: int, then: dict | None = None) -> list:
    """Run feed -> node (-> `then`, a node class and inputs fed by it) -> catch; the caught list."""
    key = f"{node}-{len(CAUGHT)}-{id(values)}"
    LISTS[key] = values
    prompt = {"feed": {"class_type": "TFeedList", "inputs": {"key": key}},
              "n": {"class_type": node, "inputs": {("latents" if slot == 0 else "images"): ["feed", slot],
                                                   "batch_size": batch_size}}}
    last = "n"
    if then is not None:
        prompt["then"] = {"class_type": then["class_type"], "inputs": {**then["inputs"], then["link"]: ["n", 0]}}
        last = "then"
    prompt["out"] = {"class_type": "TCatchList", "inputs": {"value": [last, 0], "key": key}}
    result = engine.run(prompt)
    assert result.ok, result.error
    return CAUGHT.pop(key)


def filled(values: list[float], size: int = 2, channels: int = 4) -> torch.Tensor:
    return torch.tensor(values).reshape(-1, 1, 1, 1).expand(-1, channels, size, size).clone()


def items(latents: torch.Tensor) -> list[float]:
    return [float(latent.flatten()[0]) for latent in latents]


def test_rebatch_latents_joins_cuts_and_starts_anew_at_another_size(engine):
    latents = [{"samples": filled([0, 1, 2])}, {"samples": filled([3, 4])},
               {"samples": filled([5], size=4)}, {"samples": filled([6])}]
    out = rebatch(engine, "RebatchLatents", latents, 2, 0)
    assert [items(batch["samples"]) for batch in out] == [[0, 1], [2, 3], [4], [5], [6]]
    assert [batch["batch_index"] for batch in out] == [[0, 1], [2, 3], [4], [5], [6]]
    assert all("noise_mask" not in batch for batch in out)  # nothing was masked
    assert out[3]["samples"].shape == (1, 4, 4, 4)


def test_rebatch_latents_carries_masks_and_given_indices(engine):
    half = torch.full((1, 1, 16, 16), 0.5)
    latents = [{"samples": filled([0, 1, 2]), "noise_mask": half},
               {"samples": filled([3, 4]), "batch_index": [10, 11]},
               {"samples": filled([5])}]
    out = rebatch(engine, "RebatchLatents", latents, 2, 0)
    assert [items(batch["samples"]) for batch in out] == [[0, 1], [2, 3], [4, 5]]
    # indices: the first latent's numbered 0..2, the second's given, the third numbered on after five latents
    assert [batch["batch_index"] for batch in out] == [[0, 1], [2, 10], [11, 5]]
    assert out[0]["noise_mask"].shape == (2, 1, 16, 16) and out[0]["noise_mask"].eq(0.5).all()
    assert [float(m.mean()) for m in out[1]["noise_mask"]] == [0.5, 1.0]
    assert "noise_mask" not in out[2]


def test_rebatch_latents_fits_masks_of_another_size_to_the_pixels(engine):
    latents = [{"samples": filled([0]), "noise_mask": torch.full((1, 8, 8), 0.25)}, {"samples": filled([1])}]
    (batch,) = rebatch(engine, "RebatchLatents", latents, 4, 0)
    assert batch["noise_mask"].shape == (2, 1, 16, 16)
    assert [float(m.mean()) for m in batch["noise_mask"]] == [0.25, 1.0]


def test_each_new_batch_runs_the_next_node_once(engine):
    latents = [{"samples": filled([1, 2, 3])}]
    out = rebatch(engine, "RebatchLatents", latents, 1, 0,
                  then={"class_type": "LatentMultiply", "inputs": {"multiplier": 2.0}, "link": "samples"})
    assert [items(batch["samples"]) for batch in out] == [[2], [4], [6]]


def test_rebatch_images_regroups_frames(engine):
    images = [torch.tensor([0., 1.]).reshape(2, 1, 1, 1).expand(2, 4, 4, 3).clone(),
              torch.tensor([2., 3., 4.]).reshape(3, 1, 1, 1).expand(3, 4, 4, 3).clone()]
    out = rebatch(engine, "RebatchImages", images, 2, 1)
    assert [[float(frame[0, 0, 0]) for frame in batch] for batch in out] == [[0, 1], [2, 3], [4]]
    assert out[0].shape == (2, 4, 4, 3)


def test_rebatch_images_of_different_sizes_in_one_batch_is_refused(engine):
    LISTS["mixed"] = [torch.zeros(1, 4, 4, 3), torch.zeros(1, 8, 4, 3)]
    prompt = {"feed": {"class_type": "TFeedList", "inputs": {"key": "mixed"}},
              "n": {"class_type": "RebatchImages", "inputs": {"images": ["feed", 1], "batch_size": 2}},
              "out": {"class_type": "TCatchList", "inputs": {"value": ["n", 0], "key": "mixed"}}}
    result = engine.run(prompt)
    assert not result.ok and "images of different sizes (4x4, 4x8)" in result.error.exception_message
    prompt["n"]["inputs"]["batch_size"] = 1  # one per batch: no two sizes meet
    assert engine.run(prompt).ok
    assert [tuple(batch.shape) for batch in CAUGHT.pop("mixed")] == [(1, 4, 4, 3), (1, 8, 4, 3)]
