"""What a download may reach and how large and long it may be: the address rule over every spelling of an internal
address, redirects checked hop by hop, and the size, stall and time limits, against real loopback servers."""
from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from model_library import download
from model_library.download import DownloadError, HubFile, download_hub_file, download_url
from model_library.download_policy import (
    OWNER_POLICY,
    AddressNotAllowed,
    DownloadPolicy,
    checked_addresses,
    is_public_address,
)
from tests.fixtures.model_servers import FakeHubServer, HubRepo, ModelFileServer, small_safetensors_bytes

MODEL = small_safetensors_bytes(64)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(download, "RETRY_DELAY_S", 0.01)


def only_port(port: int):
    """A rule that lets a download reach exactly one loopback server, the stand-in for a public host."""
    return lambda address, to_port: to_port == port


# --------------------------------------------------------------------------------------------- addresses


@pytest.mark.parametrize("text", [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "0.0.0.0", "0.1.2.3",
    "169.254.169.254",  # AWS, GCP, Azure metadata
    "100.100.100.200",  # Alibaba Cloud metadata
    "192.0.0.192",  # Oracle Cloud metadata
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.2.1",
    "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::127.0.0.1",
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "2002:a9fe:a9fe::1",
])
def test_internal_addresses_are_not_public(text):
    assert not is_public_address(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", ["8.8.8.8", "1.1.1.1", "151.101.1.69", "2606:4700:4700::1111",
                                  "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses_are_public(text):
    assert is_public_address(ipaddress.ip_address(text))


@pytest.mark.parametrize("host", [
    "localhost", "127.1", "0177.0.0.1", "0x7f.0.0.1", "0x7f.1", "0x7f000001", "2130706433", "017700000001",
    "0", "0.0.0.0", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:ffff:127.0.0.1",
    "169.254.169.254", "0251.0376.0251.0376", "0xa9fea9fe", "2852039166", "fd00:ec2::254",
])
def test_every_spelling_of_an_internal_address_is_refused_once_resolved(host):
    with pytest.raises(AddressNotAllowed):
        checked_addresses(host, 80, DownloadPolicy().allowed)


@pytest.mark.parametrize("host", ["8.8.8.8", "2606:4700:4700::1111"])
def test_a_public_address_passes_the_check(host):
    assert checked_addresses(host, 443, DownloadPolicy().allowed)


# --------------------------------------------------------------------------------------------- connections


def test_a_loopback_url_is_refused_before_connecting_with_the_same_words_open_or_closed(tmp_path):
    with ModelFileServer() as stopped:
        closed = stopped.url("m.safetensors")
    with ModelFileServer({"m.safetensors": MODEL}) as server:
        messages = []
        for url in (server.url("m.safetensors"), closed):
            with pytest.raises(DownloadError, match="is on an address that is not allowed") as refused:
                download_url(url, tmp_path / "m.safetensors")
            messages.append(str(refused.value).replace(url, "URL"))
        assert server.requests == []
    assert messages[0] == messages[1]
    assert "--allow-private-downloads" in messages[0]
    assert list(tmp_path.iterdir()) == []


def test_a_redirect_to_an_address_that_is_not_allowed_is_refused(tmp_path):
    with ModelFileServer({"m.safetensors": MODEL}) as inside:
        with ModelFileServer(redirects={"go": inside.url("m.safetensors")}) as outside:
            policy = DownloadPolicy(allowed=only_port(outside.ports[0]))
            with pytest.raises(DownloadError, match="redirected to an address that is not allowed") as refused:
                download_url(outside.url("go"), tmp_path / "m.safetensors", policy=policy)
            assert len(outside.requests) == 1
        assert inside.requests == []
    assert str(inside.ports[0]) not in str(refused.value)  # nothing said about where it led


def test_redirects_within_allowed_hosts_are_followed_and_counted(tmp_path):
    with ModelFileServer({"m.safetensors": MODEL}) as server:
        server.redirects.update({"hop": server.url("m.safetensors"), "loop": server.url("loop"),
                                 "file": "file:///etc/passwd"})
        policy = DownloadPolicy(allowed=only_port(server.ports[0]), max_redirects=3)
        assert download_url(server.url("hop"), tmp_path / "a.safetensors", policy=policy).read_bytes() == MODEL
        with pytest.raises(DownloadError, match="redirected more than 3 times"):
            download_url(server.url("loop"), tmp_path / "b.safetensors", policy=policy)
        assert len(server.requests_to("/files/loop")) == 4
        with pytest.raises(DownloadError, match="not http:// or https://"):
            download_url(server.url("file"), tmp_path / "c.safetensors", policy=policy)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors"]


def test_the_token_does_not_follow_a_redirect_to_another_host(tmp_path):
    with ModelFileServer({"m.safetensors": MODEL}) as cdn, ModelFileServer(redirects={"m": cdn.url("m.safetensors")}) as origin:
        download_url(origin.url("m"), tmp_path / "m.safetensors", token="secret", policy=OWNER_POLICY)
        assert origin.requests[0].headers["Authorization"] == "Bearer secret"
        assert "Authorization" not in cdn.requests[0].headers


# --------------------------------------------------------------------------------------------- limits


def test_a_file_announced_over_the_size_limit_is_refused_before_any_byte(tmp_path):
    with ModelFileServer({"m.safetensors": MODEL}) as server:
        url = server.url("m.safetensors")
        with pytest.raises(DownloadError) as refused:
            download_url(url, tmp_path / "m.safetensors", policy=replace(OWNER_POLICY, max_bytes=10_000))
        assert url in str(refused.value) and "size limit of 10,000 bytes" in str(refused.value)
        exact = download_url(url, tmp_path / "m.safetensors", policy=replace(OWNER_POLICY, max_bytes=len(MODEL)))
        assert exact.read_bytes() == MODEL


def test_a_body_without_a_length_is_cut_at_the_size_limit(tmp_path):
    with ModelFileServer({"m.safetensors": MODEL}) as server:
        server.faults.no_length = True
        with pytest.raises(DownloadError, match="over the download size limit of 10,000 bytes"):
            download_url(server.url("m.safetensors"), tmp_path / "m.safetensors",
                         policy=replace(OWNER_POLICY, max_bytes=10_000))
    assert list(tmp_path.iterdir()) == []


def test_a_server_that_stops_sending_ends_the_download_after_the_stall_limit(tmp_path):
    with ModelFileServer({"m.safetensors": MODEL}) as server:
        server.faults.hold_after = 5_000
        url = server.url("m.safetensors")
        with pytest.raises(DownloadError) as stalled:
            download_url(url, tmp_path / "m.safetensors", policy=replace(OWNER_POLICY, stall_s=0.3))
        # resumed once after the first stall (it had made progress), given up when the resume stalled at once
        assert [r.headers.get("Range") for r in server.requests] == [None, "bytes=5000-"]
    assert url in str(stalled.value) and "no data arrived for 0.3 s, the stall limit" in str(stalled.value)
    assert (tmp_path / "m.safetensors.part").stat().st_size == 5_000  # kept for a later resume


def test_a_trickling_download_ends_at_the_time_limit(tmp_path):
    with ModelFileServer({"m.safetensors": MODEL}) as server:
        server.faults.trickle = (1_000, 0.02)  # the whole file would take over a second
        url = server.url("m.safetensors")
        with pytest.raises(DownloadError) as late:
            download_url(url, tmp_path / "m.safetensors", policy=replace(OWNER_POLICY, time_limit_s=0.3))
    assert url in str(late.value) and "longer than the time limit of 0.3 s" in str(late.value)
    assert 0 < (tmp_path / "m.safetensors.part").stat().st_size < len(MODEL)


def test_a_hub_file_over_the_size_limit_is_refused_from_its_metadata(tmp_path, monkeypatch):
    repo = HubRepo({"m.safetensors": MODEL}, lfs={"m.safetensors"})
    with FakeHubServer({"org/repo": repo}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        with pytest.raises(DownloadError, match="org/repo/m.safetensors is .* over the download size limit"):
            download_hub_file(HubFile("org/repo", "m.safetensors"), tmp_path,
                              policy=replace(OWNER_POLICY, max_bytes=1_000))
        assert hub.requests_to("/cdn/") == []


def test_the_hub_cdn_is_checked_like_any_address(tmp_path, monkeypatch):
    """HF_ENDPOINT is the installation's own setting; where the Hub sends the download is not."""
    repo = HubRepo({"m.safetensors": MODEL}, lfs={"m.safetensors"})
    with FakeHubServer({"org/repo": repo}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        policy = DownloadPolicy(allowed=only_port(hub.ports[0]))
        with pytest.raises(DownloadError, match="org/repo/m.safetensors is on an address that is not allowed"):
            download_hub_file(HubFile("org/repo", "m.safetensors"), tmp_path, policy=policy)
        assert hub.requests_to("/cdn/") == []
