"""File names for saved images as ComfyUI makes them: <folder>/<prefix>_00001_.png, counting up."""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from graph_engine.folders import is_inside


class UnsafePrefixError(ValueError):
    """A filename_prefix that would write outside the output folder."""


@dataclass(frozen=True)
class SaveTarget:
    folder: Path      # real path of the folder the files go to
    subfolder: str    # relative to the output folder, '/'-separated, '' for the folder itself
    name: str         # file name stem, before _<counter>_
    counter: int      # first free number: one past the highest existing one


def expand_variables(prefix: str, width: int, height: int) -> str:
    """ComfyUI's %width%, %height% and date variables in a prefix."""
    now = time.localtime()
    values = {"width": width, "height": height, "year": now.tm_year, "month": f"{now.tm_mon:02d}",
              "day": f"{now.tm_mday:02d}", "hour": f"{now.tm_hour:02d}", "minute": f"{now.tm_min:02d}",
              "second": f"{now.tm_sec:02d}"}
    for key, value in values.items():
        prefix = prefix.replace(f"%{key}%", str(value))
    return prefix


def highest_counter(folder: Path, name: str) -> int:
    """The highest N among files named <name>_N... in `folder` (0 if none)."""
    pattern = re.compile(re.escape(name) + r"_(\d+)(?=_|\.|$)", re.IGNORECASE if os.name == "nt" else 0)
    try:
        entries = os.listdir(folder)
    except FileNotFoundError:
        return 0
    found = [int(m.group(1)) for entry in entries if (m := pattern.match(entry))]
    return max(found, default=0)


def check_prefix(filename_prefix: str, output_folder: Path) -> str:
    """The prefix as a relative "/" path, or UnsafePrefixError when it is empty or escapes the output folder.

    Run at validation too, so an escaping prefix is refused before anything runs; the existing part of the path is
    checked through symbolic links as well.
    """
    prefix = expand_variables(filename_prefix, 0, 0).replace("\\", "/")
    if not prefix.strip():
        raise UnsafePrefixError("filename_prefix is empty: give a name such as 'ComfyUI' or 'portraits/cat'")
    if os.path.isabs(prefix) or re.match(r"^[A-Za-z]:", prefix):
        raise UnsafePrefixError(f"filename_prefix '{filename_prefix}' is an absolute path: "
                                "images are saved only inside the output folder; use a relative prefix")
    subfolder, name = os.path.split(os.path.normpath(prefix))
    if name in ("", ".", ".."):
        raise UnsafePrefixError(f"filename_prefix '{filename_prefix}' names no file: end it with a name")
    if subfolder.split(os.sep)[0] == ".." or not is_inside(output_folder, Path(output_folder, subfolder)):
        raise UnsafePrefixError(f"filename_prefix '{filename_prefix}' leads outside the output folder "
                                "(through '..' or a symbolic link): saving there is not allowed")
    return prefix


def prefix_validation(filename_prefix: object, output_folder: Path) -> bool | str:
    """A saving node's VALIDATE_INPUTS answer for its prefix: True, or why it is refused (a linked prefix, None
    here, is checked when the node runs)."""
    if filename_prefix is None:
        return True
    try:
        check_prefix(str(filename_prefix), output_folder)
    except UnsafePrefixError as exc:
        return str(exc)
    return True


def save_target(output_folder: Path, filename_prefix: str, width: int = 0, height: int = 0) -> SaveTarget:
    """Where a prefix such as 'portraits/cat' saves; creates the subfolder; refuses prefixes that escape."""
    check_prefix(filename_prefix, output_folder)
    prefix = expand_variables(filename_prefix, width, height).replace("\\", "/")
    subfolder, name = os.path.split(os.path.normpath(prefix))
    base = os.path.realpath(output_folder)
    folder = os.path.realpath(os.path.join(base, subfolder))
    os.makedirs(folder, exist_ok=True)
    # check again: the folder may have been swapped for a link while it was being made
    if not is_inside(base, folder):
        raise UnsafePrefixError(f"filename_prefix '{filename_prefix}' leads outside the output folder")
    relative = os.path.relpath(folder, base)
    subfolder = "" if relative == "." else relative.replace(os.sep, "/")
    return SaveTarget(Path(folder), subfolder, name, highest_counter(Path(folder), name) + 1)


def file_name(name: str, batch_number: int, counter: int, ending: str = "_.png") -> str:
    """<name>_<counter>_.png, %batch_num% in the name replaced; `ending` gives other formats theirs ("_.webp")."""
    return f"{name.replace('%batch_num%', str(batch_number))}_{counter:05}{ending}"
