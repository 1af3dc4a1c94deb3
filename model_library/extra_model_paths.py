"""Read ComfyUI's `extra_model_paths.yaml`, so an existing ComfyUI or AUTOMATIC1111 install is used in place.

The format is ComfyUI's: top-level blocks of any name (`a111:`, `comfyui:`), each with an optional `base_path`
(relative to the yaml's folder; `~` and `$VARS` expanded), an optional `is_default`, and folder names whose value
is one path or several, one a line (a `|` block). Relative paths in a block are relative to its `base_path`, or to
the yaml's folder when the block has none. Any folder name is kept (`controlnet`, `upscale_models` ...): which of
them are used is decided by the caller. No torch here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

RESERVED_KEYS = ("base_path", "is_default")


class ExtraModelPathsError(ValueError):
    """A malformed extra_model_paths.yaml; the message names the file, the line and what to fix."""


@dataclass(frozen=True)
class ExtraModelPath:
    """One folder named in an extra_model_paths.yaml: where it is, for which folder name, and where it was said."""

    folder_name: str  # ComfyUI's name: checkpoints, loras, vae, embeddings, controlnet, ...
    path: Path
    config: Path
    block: str
    line: int  # 1-based line of the folder name's key
    is_default: bool = False


def read_extra_model_paths(config: str | os.PathLike) -> list[ExtraModelPath]:
    """The folders one extra_model_paths.yaml names, in file order; ExtraModelPathsError when it is malformed."""
    config = Path(config).expanduser().resolve()
    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExtraModelPathsError(f"{config}: cannot read this extra model paths file ({exc}); "
                                   f"check the path given to --extra-model-paths-config") from exc
    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ExtraModelPathsError(_yaml_message(config, exc)) from exc
    if document is None or _is_null(document):
        return []
    if not isinstance(document, yaml.MappingNode):
        raise _error(config, document, "expected blocks such as 'a111:' or 'comfyui:', each a mapping of folder "
                                       "names to paths")
    paths: list[ExtraModelPath] = []
    for key, block in document.value:
        paths.extend(_read_block(config, _key_text(config, key), block))
    return paths


def _read_block(config: Path, name: str, block: yaml.Node) -> list[ExtraModelPath]:
    if _is_null(block):
        return []  # an empty block, as ComfyUI allows
    if not isinstance(block, yaml.MappingNode):
        raise _error(config, block, f"block '{name}' must map folder names to paths (e.g. 'checkpoints: "
                                    f"models/Stable-diffusion')")
    entries = {_key_text(config, key): (key, value) for key, value in block.value}
    base = _base_path(config, name, entries.get("base_path"))
    is_default = _is_default(config, name, entries.get("is_default"))
    paths = []
    for folder_name, (key, value) in entries.items():
        if folder_name in RESERVED_KEYS:
            continue
        for line in _path_lines(config, name, folder_name, value):
            path = Path(os.path.expandvars(os.path.expanduser(line)))
            path = Path(os.path.normpath(path if path.is_absolute() else (base or config.parent) / path))
            paths.append(ExtraModelPath(folder_name, path, config, name, key.start_mark.line + 1, is_default))
    return paths


def _base_path(config: Path, block: str, entry: tuple[yaml.Node, yaml.Node] | None) -> Path | None:
    if entry is None or _is_null(entry[1]):
        return None
    lines = _path_lines(config, block, "base_path", entry[1])
    if len(lines) != 1:
        raise _error(config, entry[1], f"block '{block}': base_path must be one folder")
    base = Path(os.path.expandvars(os.path.expanduser(lines[0])))
    return base if base.is_absolute() else config.parent / base


def _is_default(config: Path, block: str, entry: tuple[yaml.Node, yaml.Node] | None) -> bool:
    if entry is None:
        return False
    value = yaml.safe_load(yaml.serialize(entry[1]))
    if not isinstance(value, bool):
        raise _error(config, entry[1], f"block '{block}': is_default must be true or false")
    return value


def _path_lines(config: Path, block: str, folder_name: str, value: yaml.Node) -> list[str]:
    """A path, several paths one a line (ComfyUI's `|` block), or a YAML list of paths; blank lines skipped."""
    if isinstance(value, yaml.ScalarNode) and not _is_null(value):
        return [line.strip() for line in value.value.splitlines() if line.strip()]
    if isinstance(value, yaml.SequenceNode) and all(isinstance(item, yaml.ScalarNode) for item in value.value):
        return [item.value.strip() for item in value.value if item.value.strip()]
    raise _error(config, value, f"block '{block}': '{folder_name}' must be a path, or several paths one a line "
                                f"after '{folder_name}: |'")


def _key_text(config: Path, key: yaml.Node) -> str:
    if not isinstance(key, yaml.ScalarNode):
        raise _error(config, key, "a name (a block or folder name) was expected here")
    return key.value


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _error(config: Path, node: yaml.Node, problem: str) -> ExtraModelPathsError:
    mark = node.start_mark
    return ExtraModelPathsError(f"{config}, line {mark.line + 1}, column {mark.column + 1}: {problem}")


def _yaml_message(config: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    return (f"{config}{where}: not valid YAML ({detail}); fix the file (indent each folder under its block, "
            f"use 'name: path') or remove it")
