"""ComfyUI's workflow templates, from the packages that ship them (comfyui-workflow-templates, and the newer
comfyui-workflow-templates-json): the frontend's template browser reads /templates/index.json and the files it
names."""
from __future__ import annotations

import importlib.util
from pathlib import Path

TEMPLATE_PACKAGES = ("comfyui_workflow_templates", "comfyui_workflow_templates_json")


def installed_template_folders(packages: tuple[str, ...] = TEMPLATE_PACKAGES) -> list[Path]:
    """The `templates` folder of each installed package, in the order given (a file is served from the first that
    has it); found without importing the packages."""
    folders = []
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            if (Path(location) / "templates").is_dir():
                folders.append(Path(location) / "templates")
    return folders
