"""What plugins ship for ComfyUI's frontend beside their nodes: translations (`locales/<lang>/*.json`) and example
workflows (`example_workflows/*.json` and the older folder names), read from the folders of the loaded plugins."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# locales/<lang>/main.json is the base; these go under their own key (file name without .json)
EXTRA_LOCALE_FILES = ("nodeDefs.json", "commands.json", "settings.json")
# where a plugin's example workflows may be, the current name first (ComfyUI's order)
EXAMPLE_WORKFLOW_FOLDERS = ("example_workflows", "example", "examples", "workflow", "workflows")


def _json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; {} when it is missing or unreadable (logged: one broken file hides nothing else)."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("the translation file %s cannot be read (%s); it is left out", path, exc)
        return {}
    return value if isinstance(value, dict) else {}


def merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`base` with `update` merged in, objects key by key at every depth; other values of `update` win."""
    result = dict(base)
    for key, value in update.items():
        both_objects = isinstance(value, dict) and isinstance(result.get(key), dict)
        result[key] = merged(result[key], value) if both_objects else value
    return result


def _language_file(language: Path) -> dict[str, Any]:
    """One plugin's translations for one language: main.json, with nodeDefs/commands/settings under their keys."""
    translations = _json_object(language / "main.json")
    for name in EXTRA_LOCALE_FILES:
        extra = _json_object(language / name)
        if extra:
            translations[name.removesuffix(".json")] = extra
    return translations


def plugin_translations(plugin_folders: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """{language: translations} of every plugin, merged in the order of the plugins' names (ComfyUI's /i18n)."""
    by_language: dict[str, dict[str, Any]] = {}
    for _name, folder in sorted(plugin_folders.items()):
        locales = folder / "locales"
        if not locales.is_dir():
            continue
        for language in sorted(entry for entry in locales.iterdir() if entry.is_dir()):
            translations = _language_file(language)
            by_language[language.name] = merged(by_language.get(language.name, {}), translations)
    return by_language


def workflow_templates(plugin_folders: dict[str, Path]) -> dict[str, dict[str, Path]]:
    """{plugin: {template name: file}} for the plugins that have example workflows; a folder reached under two
    names (a link) is read once, and a name met again in another folder gets that folder's name appended."""
    found: dict[str, dict[str, Path]] = {}
    for plugin, folder in sorted(plugin_folders.items()):
        templates: dict[str, Path] = {}
        seen: set[str] = set()
        for folder_name in EXAMPLE_WORKFLOW_FOLDERS:
            workflows = folder / folder_name
            if not workflows.is_dir() or os.path.realpath(workflows) in seen:
                continue
            seen.add(os.path.realpath(workflows))
            for file in sorted(workflows.glob("*.json")):
                templates[_free_name(templates, file.stem, folder_name)] = file
        if templates:
            found[plugin] = templates
    return found


def _free_name(taken: dict[str, Path], stem: str, folder_name: str) -> str:
    """`stem`, or `stem-<folder>` (then `-2`, `-3` ...) when a template of that name is already listed."""
    name, number = stem, 2
    while name in taken:
        name = f"{stem}-{folder_name}" if number == 2 else f"{stem}-{folder_name}-{number}"
        number += 1
    return name
