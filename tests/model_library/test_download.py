"""The transfer layer of `latentloom models install`, against real loopback servers that misbehave on purpose."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from model_library import download
from model_library.download import (
    DownloadError,
    HubFile,
    download_hub_file,
    download_url,
    parse_hub_reference,
)
from model_library.download_policy import OWNER_POLICY
from tests.fixtures.model_servers import FakeHubServer, HubRepo, ModelFileServer, small_safetensors_bytes

MODEL = small_safetensors_bytes(384)
MODEL_SHA = hashlib.sha256(MODEL).hexdigest()
COMMIT = "a" * 40


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(download, "RETRY_DELAY_S", 0.01)


@pytest.fixture
def server():
    with ModelFileServer({"model.safetensors": MODEL}) as running:
        yield running


@pytest.fixture
def hub(monkeypatch):
    repos = {
        "org/public": HubRepo(
            files={"unet/model.safetensors": MODEL, "README.md": b"# A tiny test model\n"},
            commit=COMMIT,
            revisions=("main", "v1.0"),
            lfs={"unet/model.safetensors"},
        ),
        "org/gated": HubRepo(files={"model.safetensors": MODEL}, lfs={"model.safetensors"}, gated_token="hf_good"),
    }
    with FakeHubServer(repos) as running:
        monkeypatch.setenv("HF_ENDPOINT", running.endpoint)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield running


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------------------------- plain URLs


def test_whole_download_has_the_same_bytes_and_no_part_file(server, tmp_path):
    result = download_url(server.url("model.safetensors"), tmp_path / "m.safetensors", expected_sha256=MODEL_SHA,
                          policy=OWNER_POLICY)
    assert result == tmp_path / "m.safetensors"
    assert result.read_bytes() == MODEL
    assert leftovers(tmp_path) == ["m.safetensors"]


def test_connection_dropped_halfway_is_resumed_with_a_range_request(server, tmp_path):
    server.faults.drop_after = len(MODEL) // 2
    result = download_url(server.url("model.safetensors"), tmp_path / "m.safetensors", policy=OWNER_POLICY)
    assert result.read_bytes() == MODEL
    gets = server.requests_to("model.safetensors", "GET")
    assert len(gets) == 2
    assert "Range" not in gets[0].headers
    assert gets[1].headers["Range"] == f"bytes={len(MODEL) // 2}-"


def test_partial_file_from_an_earlier_run_is_kept_and_resumed(server, tmp_path):
    server.faults.drop_after = 100_000
    server.faults.drop_count = 10
    with pytest.raises(DownloadError, match="kept.*run the same command again"):
        download_url(server.url("model.safetensors"), tmp_path / "m.safetensors", retries=1, policy=OWNER_POLICY)
    part = tmp_path / "m.safetensors.part"
    assert not (tmp_path / "m.safetensors").exists()
    assert part.read_bytes() == MODEL[:100_000]

    server.faults.drop_after = None
    server.requests.clear()
    result = download_url(server.url("model.safetensors"), tmp_path / "m.safetensors", policy=OWNER_POLICY)
    assert result.read_bytes() == MODEL
    assert [r.headers.get("Range") for r in server.requests] == ["bytes=100000-"]
    assert leftovers(tmp_path) == ["m.safetensors"]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.faults.drop_after = len(MODEL) // 3
    server.faults.honour_range = False
    result = download_url(server.url("model.safetensors"), tmp_path / "m.safetensors", policy=OWNER_POLICY)
    assert result.read_bytes() == MODEL
    gets = server.requests_to("model.safetensors", "GET")
    assert len(gets) == 2 and "Range" in gets[1].headers  # asked to resume, got the whole file, rewrote it


def test_restart_after_ignored_range_drops_the_stale_tail_of_the_partial_file(server, tmp_path):
    # A partial file from another version of the file; the server restarts from 0, drops, then resumes properly.
    (tmp_path / "m.safetensors.part").write_bytes(bytes(reversed(MODEL[:300_000])))
    server.faults.ignore_range_times = 1
    server.faults.drop_after = 100_000
    result = download_url(server.url("model.safetensors"), tmp_path / "m.safetensors", policy=OWNER_POLICY)
    assert result.read_bytes() == MODEL
    assert [r.headers.get("Range") for r in server.requests] == ["bytes=300000-", "bytes=100000-"]


def test_html_page_is_refused_and_nothing_is_left(server, tmp_path):
    server.faults.html_instead = True
    with pytest.raises(DownloadError, match="web page") as caught:
        download_url(server.url("model.safetensors"), tmp_path / "m.safetensors", policy=OWNER_POLICY)
    assert "direct download link" in str(caught.value)
    assert leftovers(tmp_path) == []


def test_html_page_without_html_content_type_is_recognised_by_its_start(server, tmp_path):
    server.faults.html_without_content_type = True
    with pytest.raises(DownloadError, match="web page"):
        download_url(server.url("model.safetensors"), tmp_path / "m.safetensors", policy=OWNER_POLICY)
    assert leftovers(tmp_path) == []


def test_missing_file_is_a_404_error(server, tmp_path):
    with pytest.raises(DownloadError, match="not found.*404"):
        download_url(server.url("nope.safetensors"), tmp_path / "m.safetensors", policy=OWNER_POLICY)
    assert leftovers(tmp_path) == []


def test_sha256_mismatch_deletes_the_file(server, tmp_path):
    server.faults.corrupt = True
    with pytest.raises(DownloadError, match="sha256.*deleted"):
        download_url(server.url("model.safetensors"), tmp_path / "m.safetensors", expected_sha256=MODEL_SHA,
                     policy=OWNER_POLICY)
    assert leftovers(tmp_path) == []


def test_token_is_sent_as_bearer_and_its_absence_explained(server, tmp_path):
    server.faults.required_token = "secret"
    with pytest.raises(DownloadError, match="401.*HF_TOKEN"):
        download_url(server.url("model.safetensors"), tmp_path / "m.safetensors", policy=OWNER_POLICY)
    result = download_url(server.url("model.safetensors"), tmp_path / "m.safetensors", token="secret",
                          policy=OWNER_POLICY)
    assert result.read_bytes() == MODEL
    assert server.requests[-1].headers["Authorization"] == "Bearer secret"


def test_progress_rises_to_the_total(server, tmp_path):
    calls: list[tuple[int, int | None]] = []
    download_url(server.url("model.safetensors"), tmp_path / "m.safetensors", progress=lambda d, t: calls.append((d, t)),
                 policy=OWNER_POLICY)
    done = [d for d, _ in calls]
    assert len(calls) >= 2 and done == sorted(done)
    assert calls[-1] == (len(MODEL), len(MODEL))
    assert {t for _, t in calls} == {len(MODEL)}


def test_unreachable_server_keeps_nothing_and_says_so(tmp_path):
    with ModelFileServer() as stopped:
        url = stopped.url("model.safetensors")
    with pytest.raises(DownloadError, match="could not connect"):
        download_url(url, tmp_path / "m.safetensors", retries=1, policy=OWNER_POLICY)
    assert not (tmp_path / "m.safetensors").exists()


# --------------------------------------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("text", "revision", "expected"),
    [
        ("org/repo/model.safetensors", None, HubFile("org/repo", "model.safetensors")),
        ("org/repo/unet/sub/model.safetensors", "v2", HubFile("org/repo", "unet/sub/model.safetensors", "v2")),
        ("https://huggingface.co/org/repo/resolve/main/x.safetensors?download=true", None, HubFile("org/repo", "x.safetensors", "main")),
        ("https://huggingface.co/org/repo/blob/dev/vae/x.safetensors", None, HubFile("org/repo", "vae/x.safetensors", "dev")),
        ("https://hf.co/org/repo/resolve/refs%2Fpr%2F3/x.safetensors", None, HubFile("org/repo", "x.safetensors", "refs/pr/3")),
        ("https://huggingface.co/org/repo/blob/main/x.safetensors", "v9", HubFile("org/repo", "x.safetensors", "v9")),
        ("https://huggingface.co/datasets/org/data/resolve/main/a.bin", None, HubFile("org/data", "a.bin", "main", "dataset")),
        ("https://huggingface.co/org/repo", None, None),
        ("https://civitai.com/api/download/models/12345", None, None),
        ("/abs/path/model.safetensors", None, None),
        ("./models/model.safetensors", None, None),
        ("C:\\models\\model.safetensors", None, None),
        ("model.safetensors", None, None),
        ("org/model.safetensors", None, None),
        ("org/repo/folder", None, None),
        ("org/../etc/passwd.txt", None, None),
        ("input/../../../etc/passwd", None, None),
        ("org/repo/ model.safetensors", None, None),
        ("org/repo/what?.safetensors", None, None),
        ("org/repo/x%2F..%2Fy.safetensors", None, None),
        ("org/repo/a\x00.safetensors", None, None),
        ("o" * 97 + "/repo/model.safetensors", None, None),
    ],
)
def test_parse_hub_reference(text, revision, expected):
    assert parse_hub_reference(text, revision) == expected


# --------------------------------------------------------------------------------------------- Hugging Face Hub


def test_hub_file_in_a_subfolder_at_a_revision(hub, tmp_path):
    calls: list[tuple[int, int | None]] = []
    ref = parse_hub_reference("org/public/unet/model.safetensors", revision="v1.0")
    path = download_hub_file(ref, tmp_path, progress=lambda d, t: calls.append((d, t)), policy=OWNER_POLICY)
    assert path == tmp_path / "unet" / "model.safetensors"
    assert path.read_bytes() == MODEL
    heads = hub.requests_to("/resolve/v1.0/unet/model.safetensors", "HEAD")
    assert heads, "the revision was not asked for"
    assert hub.requests_to(f"/cdn/{MODEL_SHA}", "GET")
    assert calls[-1] == (len(MODEL), len(MODEL))


def test_hub_non_lfs_file_without_sha256(hub, tmp_path):
    path = download_hub_file(HubFile("org/public", "README.md"), tmp_path, policy=OWNER_POLICY)
    assert path.read_bytes() == b"# A tiny test model\n"


def test_hub_drop_halfway_is_resumed_with_a_range_request(hub, tmp_path):
    # huggingface_hub writes in 10 MiB chunks (constants.DOWNLOAD_CHUNK_SIZE): a drop keeps only whole chunks,
    # so the file must be larger than one chunk for the resume to ask for a Range.
    big = small_safetensors_bytes(24 * 1024, seed=1)
    big_sha = hashlib.sha256(big).hexdigest()
    hub.repos["org/public"].files["big.safetensors"] = big
    hub.repos["org/public"].lfs.add("big.safetensors")
    hub.faults.drop_after = len(big) * 2 // 3
    path = download_hub_file(HubFile("org/public", "big.safetensors"), tmp_path, policy=OWNER_POLICY)
    assert path.read_bytes() == big
    gets = hub.requests_to(f"/cdn/{big_sha}", "GET")
    assert len(gets) == 2
    assert "Range" not in gets[0].headers
    resumed_from = int(gets[1].headers["Range"].removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_from <= len(big) * 2 // 3


def test_hub_corrupt_lfs_file_is_rejected_by_sha256(hub, tmp_path):
    hub.faults.corrupt = True
    with pytest.raises(DownloadError, match="sha256.*deleted"):
        download_hub_file(HubFile("org/public", "unet/model.safetensors"), tmp_path, policy=OWNER_POLICY)
    assert not (tmp_path / "unet" / "model.safetensors").exists()


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (HubFile("org/public", "unet/missing.safetensors"), "has no file 'unet/missing.safetensors'.*Check the path"),
        (HubFile("org/public", "unet/model.safetensors", "v9"), "Revision 'v9' does not exist.*--revision"),
        (HubFile("org/nothere", "model.safetensors"), "org/nothere was not found.*HF_TOKEN"),
        (HubFile("org/gated", "model.safetensors"), "gated.*set HF_TOKEN"),
    ],
)
def test_hub_errors_say_what_to_check(hub, tmp_path, ref, message):
    with pytest.raises(DownloadError, match=message):
        download_hub_file(ref, tmp_path, policy=OWNER_POLICY)


def test_hub_gated_repo_with_token_from_environment(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(DownloadError, match="token in HF_TOKEN has no access"):
        download_hub_file(HubFile("org/gated", "model.safetensors"), tmp_path, policy=OWNER_POLICY)
    monkeypatch.setenv("HF_TOKEN", "hf_good")
    path = download_hub_file(HubFile("org/gated", "model.safetensors"), tmp_path, policy=OWNER_POLICY)
    assert path.read_bytes() == MODEL
    assert hub.requests_to("/org/gated/resolve/main/", "HEAD")[-1].headers["Authorization"] == "Bearer hf_good"


def test_hub_unreachable_endpoint(tmp_path, monkeypatch):
    with FakeHubServer() as stopped:
        endpoint = stopped.endpoint
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    with pytest.raises(DownloadError, match="connection failed.*HF_ENDPOINT"):
        download_hub_file(HubFile("org/public", "model.safetensors"), tmp_path, policy=OWNER_POLICY)


def test_hub_download_cut_for_good_resumes_on_the_next_run(hub, tmp_path):
    # hf_hub_download deletes its partial file when it gives up; plain Hub files stream through download_url,
    # whose .part survives, so running the command again continues where the bytes stopped.
    half = len(MODEL) // 2
    hub.faults.drop_after = half
    hub.faults.drop_count = 100  # every later attempt of this run gets no further bytes
    ref = HubFile("org/public", "unet/model.safetensors")
    with pytest.raises(DownloadError, match="org/public/unet/model.safetensors kept failing.*kept in "
                                            ".*model.safetensors.part; run the same command again"):
        download_hub_file(ref, tmp_path, policy=OWNER_POLICY)
    assert (tmp_path / "unet" / "model.safetensors.part").stat().st_size == half
    hub.faults.drop_count = hub.faults.drops_done  # the connection works again
    path = download_hub_file(ref, tmp_path, policy=OWNER_POLICY)
    assert path.read_bytes() == MODEL
    assert hub.requests_to(f"/cdn/{MODEL_SHA}", "GET")[-1].headers["Range"] == f"bytes={half}-"