"""Installing from a file, a URL (loopback server) and a fake Hugging Face endpoint: the content picks the folder,
nothing the user may want is deleted, and a different file of the same name is never overwritten silently."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from graph_engine import Folders
from model_library.download import DownloadError
from model_library.download_policy import OWNER_POLICY
from model_library.install import InstallError, install_model
from model_library.folders import list_models
from tests.fixtures.model_servers import FakeHubServer, HubRepo, ModelFileServer
from tests.fixtures.tiny_checkpoints import write_kohya_lora


@pytest.fixture
def folders(tmp_path) -> Folders:
    return Folders.under(tmp_path)


@pytest.fixture
def models(folders):
    return folders.models


def test_a_local_lora_and_checkpoint_go_to_their_folders(models, tmp_path, tiny_sd1, folders):
    lora = write_kohya_lora(tmp_path / "downloads" / "mychar.safetensors",
                            metadata={"modelspec.trigger_phrase": "mychar"})
    done = install_model(folders, str(lora))
    assert (done.folder, done.name, done.path) == ("loras", "mychar.safetensors", models / "loras" / lora.name)
    assert done.path.read_bytes() == lora.read_bytes() and lora.exists()  # copied, the original kept
    assert done.file.training.trigger_words == ("mychar",)
    assert done.hashes.sha256 == hashlib.sha256(lora.read_bytes()).hexdigest()
    assert list_models(folders, "loras") == ["mychar.safetensors"]

    linked = install_model(folders, str(tiny_sd1.path), link=True)
    assert linked.folder == "checkpoints" and os.path.samefile(linked.path, tiny_sd1.path)
    assert linked.file.architecture == "SD1.x"
    assert not (models / ".incoming").exists()  # local files are never staged


def test_same_bytes_again_is_fine_a_different_file_needs_force(models, tmp_path, folders):
    first = write_kohya_lora(tmp_path / "a" / "style.safetensors")
    install_model(folders, str(first))
    again = install_model(folders, str(first))
    assert again.already_there and "already installed" in again.message

    other = tmp_path / "b" / "style.safetensors"
    other.parent.mkdir()
    save_file({"lora_unet_x_proj.lora_down.weight": torch.ones(2, 768),
               "lora_unet_x_proj.lora_up.weight": torch.ones(320, 2)}, other)
    with pytest.raises(InstallError, match="already has a different style.safetensors.*--force") as refused:
        install_model(folders, str(other))
    assert f"Your file was not copied: {other}" in str(refused.value)  # a local file is checked before any copy
    assert not (models / ".incoming").exists() and sorted(os.listdir(models / "loras")) == ["style.safetensors"]
    assert (models / "loras" / "style.safetensors").read_bytes() == first.read_bytes()

    replaced = install_model(folders, str(other), force=True)
    assert replaced.path.read_bytes() == other.read_bytes()


def test_unknown_content_is_kept_in_unsorted_and_kind_decides_only_when_content_cannot(models, tmp_path, folders):
    mystery = tmp_path / "mystery.safetensors"
    save_file({"some.weight": torch.zeros(3)}, mystery)
    done = install_model(folders, str(mystery))
    assert done.folder is None and done.path == models / "unsorted" / "mystery.safetensors" and done.path.exists()
    assert "--kind" in done.message

    chosen = install_model(folders, str(mystery), kind="vae", name="my-vae.safetensors")
    assert (chosen.folder, chosen.name) == ("vae", "my-vae.safetensors")

    lora = write_kohya_lora(tmp_path / "l.safetensors")
    with pytest.raises(InstallError, match="is a LoRA for SD1.x, not a checkpoint"):
        install_model(folders, str(lora), kind="checkpoint")


def test_a_url_without_a_model_name_and_an_html_page(models, folders):
    lora_bytes = (write_kohya_lora(models.parent / "src.safetensors")).read_bytes()
    with ModelFileServer({"download": lora_bytes, "page": b"<!DOCTYPE html><html>log in</html>"}) as server:
        progress = []
        done = install_model(folders, server.url("download"), progress=lambda d, t: progress.append((d, t)),
                             policy=OWNER_POLICY)
        assert (done.folder, done.name) == ("loras", "download.safetensors")
        assert progress[-1] == (len(lora_bytes), len(lora_bytes))
        with pytest.raises(DownloadError, match="(?i)web page|html"):
            install_model(folders, server.url("page"), policy=OWNER_POLICY)
    assert list_models(folders, "checkpoints") == []


def test_a_hugging_face_file_with_a_revision(models, monkeypatch, folders):
    lora_bytes = write_kohya_lora(models.parent / "hub.safetensors", sdxl=True, context_width=2048).read_bytes()
    repo = HubRepo({"loras/xl_style.safetensors": lora_bytes}, revisions=("main", "v2"),
                   lfs={"loras/xl_style.safetensors"})
    with FakeHubServer({"someone/styles": repo}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        done = install_model(folders, "someone/styles/loras/xl_style.safetensors", revision="v2", policy=OWNER_POLICY)
    assert (done.folder, done.name, done.file.architecture) == ("loras", "xl_style.safetensors", "SDXL")
    assert done.path.read_bytes() == lora_bytes


def test_sources_that_are_nothing(models, folders):
    with pytest.raises(InstallError, match="not an existing file, an https:// URL, or a Hugging Face"):
        install_model(folders, "no-such-thing")
    with pytest.raises(InstallError, match="--link needs a local file"):
        install_model(folders, "https://example.invalid/x.safetensors", link=True)


def test_without_local_files_a_path_is_never_read_whether_it_exists_or_not(models, tmp_path, monkeypatch, folders):
    lora = write_kohya_lora(tmp_path / "input" / "sub" / "style.safetensors")
    monkeypatch.chdir(tmp_path)
    answers = []
    for source in (str(lora), str(lora.with_name("missing.safetensors")), "input/../input/sub/style.safetensors",
                   "input/../input/sub/missing.safetensors", "file://" + str(lora), "file://" + str(lora) + ".x"):
        with pytest.raises(InstallError, match="not an http:// or https:// URL or a Hugging Face file") as refused:
            install_model(folders, source, local_files=False)
        answers.append(str(refused.value).replace(source, "SOURCE"))
    assert len(set(answers)) == 1
    # shaped like a Hugging Face file, so it goes to the Hub, even though the same path exists here
    with FakeHubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        with pytest.raises(DownloadError, match="Repository input/sub was not found"):
            install_model(folders, "input/sub/style.safetensors", local_files=False)
    assert list((models / ".incoming").iterdir()) == [] and list_models(folders, "loras") == []


def test_a_linked_kind_folder_gets_the_file_in_its_real_folder_a_linked_file_is_never_written_through(models, tmp_path,
                                                                                                      folders):
    drive = tmp_path / "big-drive" / "loras"
    drive.mkdir(parents=True)
    models.mkdir()
    os.symlink(drive, models / "loras")  # the owner keeps LoRAs on a big drive
    first = write_kohya_lora(tmp_path / "a" / "style.safetensors")
    done = install_model(folders, str(first))
    assert done.path == drive / "style.safetensors" and (models / "loras").is_symlink()
    assert sorted(os.listdir(drive)) == ["style.safetensors"]  # no partial file left beside it

    kept = write_kohya_lora(tmp_path / "kept" / "kept.safetensors", context_width=1024)
    os.symlink(kept, drive / "mine.safetensors")
    other = write_kohya_lora(tmp_path / "b" / "mine.safetensors", sdxl=True, context_width=2048)
    with pytest.raises(InstallError, match=r"a symbolic link: --force replaces the link, not the file it points to"):
        install_model(folders, str(other))
    install_model(folders, str(other), force=True)
    assert not (drive / "mine.safetensors").is_symlink() and (drive / "mine.safetensors").read_bytes() == \
        other.read_bytes()
    assert kept.read_bytes() != other.read_bytes() and (tmp_path / "kept" / "kept.safetensors").exists()


def test_a_kind_folder_linked_to_an_unmounted_drive_is_named_and_nothing_is_made_there(models, tmp_path, folders):
    models.mkdir()
    os.symlink(tmp_path / "unmounted" / "loras", models / "loras")
    with pytest.raises(InstallError, match=r"loras is a symbolic link whose target does not exist.*Nothing was "
                                           r"installed"):
        install_model(folders, str(write_kohya_lora(tmp_path / "a" / "style.safetensors")))
    assert not (tmp_path / "unmounted").exists()


def test_a_download_into_a_kind_folder_on_another_disk_is_copied_across(models, tmp_path, folders):
    """A rename cannot cross file systems; /dev/shm is a memory file system on Linux, another disk to /tmp."""
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second file system (/dev/shm)")
    other_disk = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        models.mkdir()
        os.symlink(other_disk, models / "loras")
        lora_bytes = write_kohya_lora(tmp_path / "src.safetensors").read_bytes()
        with ModelFileServer({"style.safetensors": lora_bytes}) as server:
            done = install_model(folders, server.url("style.safetensors"), policy=OWNER_POLICY)
        assert done.path == other_disk / "style.safetensors" and done.path.read_bytes() == lora_bytes
        assert os.listdir(other_disk) == ["style.safetensors"] and os.listdir(models / ".incoming") == []
    finally:
        shutil.rmtree(other_disk)
