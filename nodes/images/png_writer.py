"""Saved files (PNG with tEXt metadata, and the other formats the savers write), written atomically (under a locked
temporary name, graph_engine.partial_files) and never over an existing file."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any, Callable

from graph_engine.partial_files import SAVING, partial_file


def png_info(prompt: Any, extra_pnginfo: Any, parameters: str | None = None) -> Any:
    """tEXt chunks: `prompt` as API JSON, then one per key of extra_pnginfo (e.g. `workflow`), then A1111's
    `parameters` text as is (iTXt when it is not Latin-1, as A1111's own files do)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    if isinstance(extra_pnginfo, dict):
        for key, value in extra_pnginfo.items():
            info.add_text(str(key), json.dumps(value))
    if parameters and not (isinstance(extra_pnginfo, dict) and "parameters" in extra_pnginfo):
        info.add_text("parameters", parameters)
    return info


def _publish(temporary: str, final: str) -> bool:
    """Give the finished temporary file its final name unless that name exists; True when it did."""
    try:
        os.link(temporary, final)  # atomic and fails on an existing name
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        # no hard links here: reserve the name exclusively, then move the whole file onto it
        try:
            os.close(os.open(final, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            return False
        os.replace(temporary, final)
        return True
    os.unlink(temporary)
    return True


def write_exclusive(folder: Path, name_for: Callable[[int], str], counter: int, write: Callable[[Any], None],
                    suffix: str) -> tuple[str, int]:
    """Let `write(stream)` fill a new file, then publish it as <folder>/name_for(counter) (publish_under_free_name);
    `suffix` ends the temporary name, e.g. ".webp.tmp". The file appears complete or not at all."""
    with partial_file(folder, SAVING, suffix) as temporary:
        with open(temporary, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        return publish_under_free_name(temporary, folder, name_for, counter)


def write_png_exclusive(folder: Path, name_for: Callable[[int], str], counter: int, pixels: Any, info: Any,
                        compress_level: int) -> tuple[str, int]:
    """Save `pixels` as <folder>/name_for(counter) with the chunks of `info` (a PngInfo), taking the next counter
    while a name is taken; compress_level 0 stores the image data uncompressed, any other compresses it (see
    png_encoder: one fast level, as good as Pillow's level 4 on generated pictures).

    The file appears complete or not at all. Returns (file name, counter used).
    """
    from .png_encoder import write_png

    return write_exclusive(folder, name_for, counter,
                           lambda stream: write_png(stream, pixels, info.chunks, compress=compress_level > 0),
                           ".png.tmp")


def publish_under_free_name(temporary: str, folder: Path, name_for: Callable[[int], str],
                            counter: int) -> tuple[str, int]:
    """Give the finished `temporary` file the name <folder>/name_for(counter), counting up while a name is taken
    (another writer may have taken it since the counter was read). Returns (file name, counter used)."""
    for _ in range(100_000):
        name = name_for(counter)
        if _publish(temporary, os.path.join(folder, name)):
            return name, counter
        counter += 1
    raise FileExistsError(f"no free file name in {folder} after many tries")
