"""ComfyUI's plugin-facing modules (folder_paths, comfy.*, node_helpers, server), mapped onto Latentloom's runtime.

The shims live in `modules/` as top-level modules that only plugins import; `install_comfy_modules` puts that
folder on sys.path just before plugins load.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from graph_engine import Folders, current_context

log = logging.getLogger(__name__)

MODULES_FOLDER = Path(__file__).resolve().parent / "modules"

_startup_folders: Folders | None = None


def install_comfy_modules(folders: Folders | None = None) -> None:
    """Make `import folder_paths`, `import comfy.utils`, `from server import PromptServer` ... work for plugins.

    `folders` are the installation's folders, which the shims answer from outside a run (inside one, the running
    engine's folders win). Calling it again only updates the folders.
    """
    global _startup_folders
    if folders is not None:
        _startup_folders = folders
    if str(MODULES_FOLDER) not in sys.path:
        sys.path.insert(0, str(MODULES_FOLDER))  # first: plugins expect ComfyUI's modules under these names
        log.debug("ComfyUI compatibility modules available from %s", MODULES_FOLDER)


def installation_folders() -> Folders:
    """The running engine's folders inside a run, else those given at start-up, else those under the current
    directory."""
    context = current_context()
    if context is not None:
        return context.folders
    return _startup_folders if _startup_folders is not None else Folders.under(Path.cwd())


__all__ = ["MODULES_FOLDER", "install_comfy_modules", "installation_folders"]
