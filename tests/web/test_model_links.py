"""Through a real server: a checkpoint the owner linked in from another drive is listed and offered (it runs too:
tests/cli/test_models_families_and_links.py); a dangling link is described as broken without the server's paths; a
file of a family Latentloom cannot run says so in the details the Models panel reads; a request name that goes up
from the folder is still refused."""
from __future__ import annotations

import json
import os
import shutil

from nodes.runtime.demo_model import DEMO_CHECKPOINT_NAME
from tests.fixtures.foreign_models import FLUX1, write_foreign_model
from tests.web.client import call_json, text_to_image
from tests.web.conftest import prepare_base, start_server


def test_linked_models_are_listed_and_run_broken_links_described_and_names_going_up_refused(tmp_path):
    base = prepare_base(tmp_path / "base")
    drive = tmp_path / "drive"
    drive.mkdir()
    checkpoints = base / "models" / "checkpoints"
    shutil.move(checkpoints / DEMO_CHECKPOINT_NAME, drive / DEMO_CHECKPOINT_NAME)
    os.symlink(drive / DEMO_CHECKPOINT_NAME, checkpoints / DEMO_CHECKPOINT_NAME)
    os.symlink(write_foreign_model(drive / "flux1-dev.safetensors", FLUX1, checkpoint=True),
               checkpoints / "flux1-dev.safetensors")
    os.symlink(drive / "unplugged" / "gone.safetensors", checkpoints / "gone.safetensors")
    server = start_server(base)
    try:
        status, names = call_json(server.url + "/models/checkpoints")
        assert (status, names) == (200, ["flux1-dev.safetensors", DEMO_CHECKPOINT_NAME])
        status, info = call_json(server.url + "/object_info/CheckpointLoaderSimple")
        assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == names

        status, details = call_json(server.url + "/api/models/checkpoints?details=1")
        assert status == 200 and str(tmp_path) not in json.dumps(details)
        described = {entry["name"]: entry for entry in details}
        flux = described["flux1-dev.safetensors"]
        assert (flux["architecture"], flux["problem"]) == ("FLUX.1", None)
        assert flux["unsupported"].startswith("Latentloom cannot run FLUX.1 models")
        assert described[DEMO_CHECKPOINT_NAME]["unsupported"] is None
        assert described["gone.safetensors"]["problem"].startswith(
            "checkpoints/gone.safetensors is a symbolic link whose target does not exist")

        for name in (f"../../drive/{DEMO_CHECKPOINT_NAME}", str(drive / DEMO_CHECKPOINT_NAME)):
            prompt = text_to_image()
            prompt["4"]["inputs"]["ckpt_name"] = name
            status, answer = call_json(server.url + "/prompt", "POST", {"prompt": prompt})
            assert status == 400
            (error,) = answer["node_errors"]["4"]["errors"]
            assert (error["type"], error["extra_info"]["input_name"]) == ("value_not_in_list", "ckpt_name")
    finally:
        server.stop()
