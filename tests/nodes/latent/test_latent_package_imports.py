"""Importing nodes.latent (and listing its nodes) needs neither torch nor Pillow nor numpy."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_importing_latent_nodes_does_not_import_torch(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        sys.modules["torch"] = None  # `import torch` now raises ImportError
        import nodes.latent
        from graph_engine import Folders, using_folders
        with using_folders(Folders.under({str(tmp_path)!r})):  # LoadLatent lists the input folder
            for cls in nodes.latent.NODE_CLASS_MAPPINGS.values():
                cls.INPUT_TYPES()
        print(sorted(nodes.latent.NODE_CLASS_MAPPINGS))
        print(sorted(m for m in ("torch", "numpy", "PIL") if sys.modules.get(m) is not None))
        """)
    env = {k: v for k, v in os.environ.items() if k != "LATENTLOOM_CUSTOM_NODES"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    names, heavy = done.stdout.strip().splitlines()
    assert names == str(sorted([
        "EmptyLatentImage", "ImageScale", "ImageScaleBy", "LatentUpscale", "LatentUpscaleBy", "SetLatentNoiseMask",
        "LatentFromBatch", "RepeatLatentBatch", "LatentRotate", "LatentFlip", "LatentCrop", "LatentComposite",
        "LatentBlend", "SaveLatent", "LoadLatent", "LatentAdd", "LatentSubtract", "LatentMultiply", "LatentInterpolate",
        "LatentBatch", "LatentBatchSeedBehavior", "LatentConcat", "LatentCut", "LatentCutToBatch",
        "LatentApplyOperation", "LatentOperationTonemapReinhard", "LatentOperationSharpen", "RebatchLatents",
        "RebatchImages"]))
    assert heavy == "[]"
