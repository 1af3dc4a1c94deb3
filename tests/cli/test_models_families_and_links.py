"""Through the real command line: models of families Latentloom cannot run are named at install, in `models list`
and `models verify`; a broken local file is refused before anything is copied; models reached through symbolic
links (a linked file, a linked folder) are listed, hashed and run, while broken links are named and names that go
up from their folder are still refused."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tests.cli.test_models_paths import latentloom, offer_and_run, write_tiny_sd1_lora
from tests.fixtures.example_workflows import with_checkpoint_and_lora
from tests.fixtures.foreign_models import FLUX1, WAN, write_foreign_model
from tests.fixtures.tiny_checkpoints import FULL_VOCABULARY, build_sd1, write_kohya_lora

CANNOT_RUN_FLUX = "Latentloom cannot run FLUX.1 models (it runs Stable Diffusion 1.x, 2.x and SDXL)"


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def test_a_flux_checkpoint_is_installed_listed_and_verified_as_a_valid_file_latentloom_cannot_run(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    flux = write_foreign_model(tmp_path / "downloads" / "flux1-dev.safetensors", FLUX1, checkpoint=True)
    wan = write_foreign_model(tmp_path / "downloads" / "wan2.1_t2v_1.3B.safetensors", WAN)

    installed = latentloom("models", "install", flux, cwd=base)
    assert installed.returncode == 0, installed.stderr
    assert (f"installed a FLUX.1 image model (bf16) as models/checkpoints/flux1-dev.safetensors: a valid file, but "
            f"{CANNOT_RUN_FLUX}") in installed.stdout
    assert "checkpoint, FLUX.1, bf16" in installed.stdout and "base not known" not in installed.stdout
    lone = latentloom("models", "install", wan, cwd=base)
    assert lone.returncode == 0, lone.stderr
    assert (f"installed a Wan video model (the diffusion model alone) (bf16) as models/diffusion_models/{wan.name}: "
            "a valid file, but Latentloom cannot run Wan models") in lone.stdout  # where ComfyUI keeps it
    assert (base / "models" / "diffusion_models" / wan.name).is_file()

    listed = latentloom("models", "list", "--json", cwd=base)
    entries = {entry["kind"]: entry for entry in json.loads(listed.stdout)}
    assert (entries["checkpoint"]["architecture"], entries["checkpoint"]["unsupported"],
            entries["checkpoint"]["problem"]) == ("FLUX.1", CANNOT_RUN_FLUX, None)
    assert entries["unet"]["architecture"] == "Wan" and entries["unet"]["problem"] is None
    table = latentloom("models", "list", cwd=base).stdout.splitlines()
    assert table[1].split()[:2] == ["checkpoint", "FLUX.1"]
    assert f"! checkpoints/flux1-dev.safetensors: valid file; {CANNOT_RUN_FLUX}" in table

    installed = [base / "models" / "checkpoints" / "flux1-dev.safetensors", base / "models" / "diffusion_models" / wan.name]
    for checked, paths in ((latentloom("models", "verify", cwd=base), installed),
                           (latentloom("models", "verify", wan, cwd=base), [wan])):
        assert checked.returncode == 0, checked.stdout  # valid files: nothing is broken
        assert all(f"ok   {path} (" in checked.stdout for path in paths)
        assert "valid file; Latentloom cannot run" in checked.stdout
        assert f"{len(paths)} ok ({len(paths)} that Latentloom cannot run), 0 with problems" in checked.stdout


def test_a_broken_local_file_is_named_as_the_users_file_and_nothing_is_copied(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    lora = write_kohya_lora(tmp_path / "downloads" / "style.safetensors")
    lora.write_bytes(lora.read_bytes()[:-100])  # an interrupted download
    page = tmp_path / "downloads" / "page.safetensors"
    page.write_bytes(b"<!DOCTYPE html><html>sign in</html>")
    for source, words in ((lora, "truncated"), (page, "web page (HTML)")):
        refused = latentloom("models", "install", source, cwd=base)
        assert refused.returncode == 1
        assert refused.stderr.startswith(f"error: {source} ") and words in refused.stderr, refused.stderr
        assert "Nothing was copied into the models folder." in refused.stderr and ".incoming" not in refused.stderr
    wrong_kind = latentloom("models", "install", write_kohya_lora(tmp_path / "downloads" / "good.safetensors"),
                           "--kind", "vae", cwd=base)
    assert wrong_kind.returncode == 1 and "Nothing was copied" in wrong_kind.stderr
    assert files_under(base / "models") == []


def test_a_linked_checkpoint_and_a_linked_lora_folder_are_listed_hashed_and_run(tmp_path):
    drive = tmp_path / "big-drive"
    checkpoint = build_sd1(drive / "sd", name="real-name.safetensors", vocab_size=FULL_VOCABULARY).path
    lora = write_tiny_sd1_lora(drive / "loras" / "styles" / "detail.safetensors")
    base = tmp_path / "base"
    (base / "models" / "checkpoints").mkdir(parents=True)
    (base / "models" / "loras").mkdir()
    os.symlink(checkpoint, base / "models" / "checkpoints" / "linked.safetensors")
    os.symlink(lora.parent, base / "models" / "loras" / "styles")

    ran = offer_and_run(base, "linked.safetensors", "styles/detail.safetensors")
    assert "loaded linked.safetensors: SD1.x" in ran.stderr and "2 layers matched, 0 unmatched" in ran.stderr

    listed = {entry["name"]: entry for entry in json.loads(latentloom("models", "list", "--json", cwd=base).stdout)}
    assert listed["linked.safetensors"]["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert listed["styles/detail.safetensors"]["sha256"] == hashlib.sha256(lora.read_bytes()).hexdigest()
    assert latentloom("models", "verify", cwd=base).returncode == 0

    going_up = "../../big-drive/sd/real-name.safetensors"  # exists, but the name goes up from the folder
    workflow = base / "going_up.json"
    workflow.write_text(json.dumps(with_checkpoint_and_lora(going_up, "styles/detail.safetensors")))
    refused = latentloom("run", workflow, "--base-dir", base, cwd=base)
    assert refused.returncode == 2 and going_up in refused.stderr
    assert len(files_under(base / "output")) == 1  # the first run's image only


def test_a_link_loop_and_a_dangling_link_are_listed_as_broken_with_their_reason(tmp_path):
    base = tmp_path / "base"
    loras = base / "models" / "loras"
    write_kohya_lora(loras / "ok.safetensors")
    os.symlink("..", loras / "loop")  # models/, which holds loras/ itself
    os.symlink("loop", loras / "sub")
    os.symlink(tmp_path / "unmounted-drive" / "big.safetensors", loras / "big.safetensors")

    combos = json.loads(latentloom("nodes", "--json", "--base-dir", base, cwd=base).stdout)
    assert combos["LoraLoader"]["input"]["required"]["lora_name"][0] == ["ok.safetensors"]
    listed = latentloom("models", "list", "--json", cwd=base)
    assert listed.returncode == 0, listed.stderr
    problems = {entry["name"]: entry["problem"] for entry in json.loads(listed.stdout)}
    assert problems["ok.safetensors"] is None
    for name in ("loop", "sub"):
        assert problems[name].startswith(f"loras/{name} is a symbolic link to a folder that holds the link itself "
                                         f"(a link loop)")
    assert problems["big.safetensors"].startswith("loras/big.safetensors is a symbolic link whose target does not "
                                                  "exist (a drive that is not mounted")
    table = latentloom("models", "list", "--verbose", cwd=base)
    assert "! loras/big.safetensors: " in table.stdout and "Traceback" not in table.stderr
    assert f"-> {tmp_path / 'unmounted-drive' / 'big.safetensors'}" in table.stdout

    checked = latentloom("models", "verify", cwd=base)
    assert checked.returncode == 1 and "Traceback" not in checked.stderr
    assert f"BAD  {loras / 'big.safetensors'}: " in checked.stdout and "1 ok, 3 with problems" in checked.stdout
    one = latentloom("models", "verify", loras / "big.safetensors", cwd=base)
    assert one.returncode == 1 and "target does not exist" in one.stdout and "no such file" not in one.stdout
