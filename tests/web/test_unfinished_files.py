"""Files a writer killed mid-write leaves behind (SaveImage's `.saving-*.png.tmp`, an upload's `.upload-*.tmp`):
/view never serves them, and start-up removes them (never one a live writer still holds); the server's
start-up also empties temp/."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.web.client import REPO, call

# SaveImage's real writer, stopped after the image is written and before it gets its name (where kill -9 bites)
WRITER = """
import sys, time
from pathlib import Path
import numpy as np
from nodes.images.png_writer import png_info, write_png_exclusive

def name_for(counter):
    print("written", flush=True)
    time.sleep(600)

write_png_exclusive(Path(sys.argv[1]), name_for, 1, np.zeros((8, 8, 3), dtype=np.uint8), png_info(None, None), 1)
"""


def start_writer(folder) -> subprocess.Popen:
    """A process in the middle of saving a PNG into `folder`; returns once the temporary file is written."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], cwd=REPO, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    assert writer.stdout.readline().strip() == "written", "the writer stopped before writing"
    return writer


def unfinished(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith((".saving-", ".upload-")))


def test_start_up_removes_what_killed_writers_left_and_view_never_serves_it(own_server, tmp_path):
    output, temp = tmp_path / "output", tmp_path / "temp"
    writer = start_writer(output / "portraits")
    try:
        (live_file,) = unfinished(output / "portraits")
        # left by writers killed earlier, in every folder a writer uses
        (output / ".saving-abcdefgh.png.tmp").write_bytes(b"half a png")
        (tmp_path / "input").mkdir()
        (tmp_path / "input" / ".upload-abcd_123.tmp").write_bytes(b"half an upload")
        (temp / "old").mkdir(parents=True)
        (temp / "ComfyUI_temp_abcde_00001_.png").write_bytes(b"a preview of an earlier run")
        (temp / "old" / "x.png").write_bytes(b"a plugin's preview")
        (output / "kept_00001_.png").write_bytes(b"a finished image")

        server = own_server()
        assert os.listdir(temp) == []  # emptied before the server answers
        server.wait_for_log("removed 2 unfinished file(s)")
        assert unfinished(output) == [] and unfinished(tmp_path / "input") == []
        assert unfinished(output / "portraits") == [live_file]  # its writer is alive: not touched
        assert (output / "kept_00001_.png").exists()
        status, _, _ = call(f"{server.url}/view?filename={live_file}&subfolder=portraits")
        assert status == 404
        assert call(f"{server.url}/view?filename=kept_00001_.png")[0] == 200

        writer.kill()  # kill -9 mid-save
        writer.wait()
        server.stop()
        own_server().wait_for_log("removed 1 unfinished file(s)")
        assert unfinished(output / "portraits") == []
    finally:
        writer.kill()
        writer.wait()


def test_a_cli_run_removes_what_killed_writers_left_and_keeps_temp(tmp_path):
    (tmp_path / "output").mkdir()
    (tmp_path / "temp").mkdir()
    (tmp_path / "output" / ".saving-abcdefgh.png.tmp").write_bytes(b"half a png")
    (tmp_path / "temp" / "preview_00001_.png").write_bytes(b"a server's preview, still on its page")
    done = subprocess.run([sys.executable, "-m", "latentloom", "run", str(REPO / "workflows" / "utility_example.json"),
                           "--base-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert unfinished(tmp_path / "output") == []
    assert (tmp_path / "temp" / "preview_00001_.png").exists()  # a server beside it may still show it
