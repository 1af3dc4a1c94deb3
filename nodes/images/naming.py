"""File names for saved images as ComfyUI makes them: <folder>/<prefix>_00001_.png, counting up."""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path


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


def save_target(output_folder: Path, filename_prefix: str, width: int = 0, height: int = 0) -> SaveTarget:
    """Where a prefix such as 'portraits/cat' saves; creates the subfolder; refuses prefixes that escape."""
    prefix = expand_variables(filename_prefix, width, height).replace("\\", "/")
    if not prefix.strip():
        raise UnsafePrefixError("filename_prefix is empty: give a name such as 'ComfyUI' or 'portraits/cat'")
    if os.path.isabs(prefix) or re.match(r"^[A-Za-z]:", prefix):
        raise UnsafePrefixError(f"filename_prefix '{filename_prefix}' is an absolute path: "
                                "images are saved only inside the output folder; use a relative prefix")
    normal = os.path.normpath(prefix)
    subfolder, name = os.path.split(normal)
    if name in ("", ".", ".."):
        raise UnsafePrefixError(f"filename_prefix '{filename_prefix}' names no file: end it with a name")
    base = os.path.realpath(output_folder)
    folder = os.path.realpath(os.path.join(base, subfolder))
    if os.path.commonpath((base, folder)) != base:
        raise UnsafePrefixError(f"filename_prefix '{filename_prefix}' leads outside the output folder {base} "
                                "(through '..' or a symbolic link): saving there is not allowed")
    os.makedirs(folder, exist_ok=True)
    # check again: the folder may have been swapped for a link while it was being made
    if os.path.commonpath((base, os.path.realpath(folder))) != base:
        raise UnsafePrefixError(f"filename_prefix '{filename_prefix}' leads outside the output folder {base}")
    relative = os.path.relpath(folder, base)
    subfolder = "" if relative == "." else relative.replace(os.sep, "/")
    return SaveTarget(Path(folder), subfolder, name, highest_counter(Path(folder), name) + 1)


def file_name(name: str, batch_number: int, counter: int) -> str:
    return f"{name.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
