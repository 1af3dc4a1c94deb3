"""Which built web app the server shows at / instead of the canvas: ComfyUI's frontend from its pip package
(`--front-end comfyui`) or any folder holding an index.html (`--front-end-root DIR`, ComfyUI's flag).

ComfyUI serves the frontend's folder at its root; so do we, after every API route, plugin route and /extensions
path, so that nothing of the app's can stand in for the API. The canvas moves to /loom/ then.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .user_settings import settings_path, update_settings

log = logging.getLogger(__name__)

PACKAGE = "comfyui_frontend_package"
INSTALL_ADVICE = "pip install 'latentloom[comfyui-frontend]' (or pip install comfyui-frontend-package)"
CANVAS_PATH = "/loom/"
# our extension for ComfyUI's frontend: it opens our default workflow where the frontend would open its own
EXTENSION_NAME = "latentloom"
EXTENSION_FOLDER = Path(__file__).resolve().parent / "comfyui_extension"
# a first visit skips the frontend's template browser and opens the default workflow (ours, through the extension)
FIRST_VISIT_SETTINGS: dict[str, Any] = {"Comfy.TutorialCompleted": True}


class FrontEndMissing(Exception):
    """The front end asked for is not installed or not a web app; the message says what to do."""


def comfyui_front_end_root() -> Path:
    """The static folder of the installed comfyui-frontend-package."""
    try:
        import comfyui_frontend_package
    except ImportError:
        raise FrontEndMissing(f"--front-end comfyui needs ComfyUI's frontend package: {INSTALL_ADVICE}") from None
    return checked_front_end_root(Path(comfyui_frontend_package.__file__).resolve().parent / "static")


def checked_front_end_root(folder: Path) -> Path:
    """`folder`, resolved, once it is seen to hold a web app (an index.html)."""
    folder = folder.expanduser().resolve()
    if not (folder / "index.html").is_file():
        raise FrontEndMissing(f"the front-end folder {folder} has no index.html: give the folder of a built web app "
                              f"(for ComfyUI's frontend: {INSTALL_ADVICE}, then --front-end comfyui)")
    return folder


def extension_scripts(root: Path) -> list[str]:
    """The app's own scripts under extensions/ (ComfyUI lists them for the page to import) and ours."""
    scripts = [f"/{path.relative_to(root).as_posix()}" for path in sorted((root / "extensions").rglob("*.js"))]
    scripts += [f"/extensions/{EXTENSION_NAME}/{path.name}" for path in sorted(EXTENSION_FOLDER.glob("*.js"))]
    return scripts


def seed_first_visit_settings(user_folder: Path) -> None:
    """Settings for a user the frontend has never seen; existing settings are left as they are."""
    if settings_path(user_folder).exists():
        return
    update_settings(user_folder, FIRST_VISIT_SETTINGS)
    log.info("first visit: ComfyUI's frontend will open Latentloom's default workflow")
