"""A base folder with tiny SD1, SD2 (v) and SDXL checkpoints (CLIP's full vocabulary, so real prompts fit) and the
engine built on it the way the app builds it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.tiny_checkpoints import FULL_VOCABULARY, TinyCheckpoint, build_sd1, build_sd2, build_sdxl


@dataclass
class Studio:
    base: Path
    engine: object
    tiny: dict[str, TinyCheckpoint]
    loaded: dict

    def load(self, key: str):
        """(MODEL, CLIP, VAE) through the CheckpointLoaderSimple node, once per checkpoint."""
        from graph_engine import using_folders
        from nodes.diffusion.loaders import CheckpointLoaderSimple

        if key not in self.loaded:
            with using_folders(self.engine.folders):  # as the engine calls the node
                self.loaded[key] = CheckpointLoaderSimple().load_checkpoint(self.tiny[key].path.name)
        return self.loaded[key]


@pytest.fixture(scope="session")
def studio(tmp_path_factory) -> Studio:
    from latentloom.startup import Options, build_engine

    base = tmp_path_factory.mktemp("studio")
    checkpoints = base / "models" / "checkpoints"
    tiny = {"sd1": build_sd1(checkpoints, vocab_size=FULL_VOCABULARY),
            "sd2_v": build_sd2(checkpoints, v_prediction=True, vocab_size=FULL_VOCABULARY),
            "sdxl": build_sdxl(checkpoints, vocab_size=FULL_VOCABULARY)}
    (base / "models" / "embeddings").mkdir(parents=True)
    engine, _ = build_engine(Options(base_dir=base, disable_custom_nodes=True))
    return Studio(base, engine, tiny, {})


@pytest.fixture
def studio_folders(studio):
    """The studio's folders current, for tests that call node code directly, as the engine calls it."""
    from graph_engine import using_folders

    with using_folders(studio.engine.folders):
        yield studio.engine.folders
