"""ComfyUI's plugin-facing modules (folder_paths, comfy.*, comfy_extras.*, comfy_execution.*, node_helpers,
latent_preview, server), mapped onto Latentloom's runtime.

The shims live in `modules/` as top-level modules that only plugins import; `install_comfy_modules` puts that
folder on sys.path just before plugins load, and names the ComfyUI modules no shim offers (`not_offered`).
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from graph_engine import Folders

from .not_offered import NotOfferedFinder, explain_import_failure

log = logging.getLogger(__name__)

MODULES_FOLDER = Path(__file__).resolve().parent / "modules"


def install_comfy_modules(folders: Folders | None = None) -> None:
    """Make `import folder_paths`, `import comfy.utils`, `from server import PromptServer` ... work for plugins.

    `folders` are those of the engine about to load the plugins: `folder_paths` answers from them wherever no engine
    call is on (a plugin's own routes and threads); inside one, that engine's folders win. Calling it again with
    folders (another engine loading plugins) makes those the answer; without, only the modules are made importable.
    """
    if str(MODULES_FOLDER) not in sys.path:
        sys.path.insert(0, str(MODULES_FOLDER))  # first: plugins expect ComfyUI's modules under these names
        log.debug("ComfyUI compatibility modules available from %s", MODULES_FOLDER)
    if not any(isinstance(finder, NotOfferedFinder) for finder in sys.meta_path):
        sys.meta_path.append(NotOfferedFinder())  # last: only what no shim and no installed package provides
    if folders is not None:
        import folder_paths  # the shim in MODULES_FOLDER

        folder_paths.use_plugin_folders(folders)


__all__ = ["MODULES_FOLDER", "explain_import_failure", "install_comfy_modules"]
