"""Importing the image nodes (and reading their declarations) loads neither torch nor Pillow nor numpy."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_importing_nodes_images_loads_no_heavy_library(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        import nodes.images as images
        from graph_engine import Folders, using_folders
        with using_folders(Folders.under({str(tmp_path)!r})):
            for cls in images.NODE_CLASS_MAPPINGS.values():
                cls.INPUT_TYPES()
            assert images.NODE_CLASS_MAPPINGS["LoadImage"].VALIDATE_INPUTS("missing.png") is not True
        heavy = [name for name in ("torch", "PIL", "numpy") if name in sys.modules]
        print("HEAVY", heavy)
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout, done.stdout
