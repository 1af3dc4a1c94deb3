"""POST /api/models/install under attack and bad luck, through a real server: slow installs do not stall the API
and only two run at once, downloads are bounded in size and time, a request never names a file on the server,
and a URL never reaches the server's own or its network's addresses."""
from __future__ import annotations

import asyncio
import json
import signal

import aiohttp

from tests.fixtures.model_servers import FakeHubServer, ModelFileServer, small_safetensors_bytes
from tests.fixtures.tiny_checkpoints import write_kohya_lora
from tests.web.client import call_json, run_async, sleep_prompt
from tests.web.conftest import free_port

FINAL = ("model_install_done", "model_install_error")
WAIT = aiohttp.ClientTimeout(total=30)
INSTALL_PLACES = 10  # the server's default line: 2 installs running and 8 waiting


class InstallClient:
    """One websocket client posting installs; collects each install's messages by its id."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session, self.base_url = session, base_url
        self.messages: dict[str, list[tuple[str, dict]]] = {}

    async def __aenter__(self) -> InstallClient:
        ws_url = self.base_url.replace("http", "ws", 1) + "/ws?clientId=installer"
        self.socket = await self.session.ws_connect(ws_url)
        await self.socket.receive(timeout=10)  # the status message every client gets first
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.socket.close()

    async def post(self, source: str) -> tuple[int, dict]:
        async with self.session.post(f"{self.base_url}/api/models/install", timeout=WAIT,
                                     json={"source": source, "client_id": "installer"}) as reply:
            return reply.status, await reply.json()

    async def finish(self, install_ids: list[str], timeout: float = 120) -> dict[str, list[tuple[str, dict]]]:
        """Read messages until each install ended; its messages, in order, by id."""
        while not all(self.messages.get(i) and self.messages[i][-1][0] in FINAL for i in install_ids):
            decoded = json.loads((await self.socket.receive(timeout=timeout)).data)
            if decoded["type"].startswith("model_install_"):
                self.messages.setdefault(decoded["data"]["install_id"], []).append((decoded["type"], decoded["data"]))
        return {i: self.messages[i] for i in install_ids}

    async def install_all(self, sources: list[str]) -> dict[str, tuple[str, dict]]:
        """Post the sources (all accepted) in batches the server's line holds, each batch ended before the next is
        posted (a slow machine may not have ended the first installs when the eleventh arrives); the final message
        of each, by source."""
        ends: dict[str, tuple[str, dict]] = {}
        for first in range(0, len(sources), INSTALL_PLACES):
            batch = sources[first:first + INSTALL_PLACES]
            answers = [await self.post(source) for source in batch]
            assert all(status == 202 for status, _ in answers), answers
            finished = await self.finish([answer["install_id"] for _, answer in answers])
            ends.update({source: finished[answer["install_id"]][-1] for source, (_, answer) in zip(batch, answers)})
        return ends


def test_installs_run_two_at_a_time_off_the_api_threads_and_more_wait_in_line(own_server, tmp_path):
    lora = write_kohya_lora(tmp_path / "src" / "style.safetensors").read_bytes()
    server = own_server("--allow-private-downloads")  # the file server is on loopback
    with ModelFileServer({f"style{i}.safetensors": lora for i in range(11)}) as host:
        host.faults.hold_after = 1_000  # each download sends its first bytes, then waits for the test's word

        async def scenario() -> dict[str, list[tuple[str, dict]]]:
            async with aiohttp.ClientSession() as session, InstallClient(session, server.url) as installs:
                answers = [await installs.post(host.url(f"style{i}.safetensors")) for i in range(10)]
                assert [status for status, _ in answers] == [202] * 10, answers
                assert [answer["place_in_line"] for _, answer in answers] == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
                status, refused = await installs.post(host.url("style10.safetensors"))
                assert status == 429, refused
                assert "2 model installs are running and 8 are waiting" in refused["error"]["message"]

                assert await asyncio.to_thread(host.wait_for_held, 2)
                # Both install slots hold a download that cannot end before release_held(): the API answers anyway.
                async with session.get(f"{server.url}/object_info", timeout=WAIT) as reply:
                    assert reply.status == 200 and "TestSleep" in await reply.json()
                async with session.post(f"{server.url}/prompt", json={"prompt": sleep_prompt(0)}, timeout=WAIT) as reply:
                    assert reply.status == 200, await reply.text()
                assert host.held == 2 and len(host.requests_to("/files/", "GET")) == 2  # the other eight wait
                host.release_held()
                return await installs.finish([answer["install_id"] for _, answer in answers])

        finished = run_async(scenario())
        assert len(host.requests_to("/files/", "GET")) == 10
    waited = [messages for messages in finished.values() if messages[0][0] == "model_install_waiting"]
    assert sorted(messages[0][1]["place_in_line"] for messages in waited) == list(range(1, 9))
    assert [messages[-1][0] for messages in finished.values()] == ["model_install_done"] * 10
    assert sorted(call_json(f"{server.url}/api/models/loras")[1]) == [f"style{i}.safetensors" for i in range(10)]


def test_the_server_stops_at_once_while_an_install_is_downloading(own_server):
    server = own_server("--allow-private-downloads")
    with ModelFileServer({"m.safetensors": small_safetensors_bytes(16)}) as host:
        host.faults.hold_after = 1_000
        status, _ = call_json(f"{server.url}/api/models/install", "POST", {"source": host.url("m.safetensors")})
        assert status == 202 and host.wait_for_held(1)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(20) == 0  # the download's thread does not hold up the exit
    assert (server.base_dir / "models" / ".incoming" / "m.safetensors.part").stat().st_size == 1_000  # resumable


def test_downloads_stop_at_the_size_stall_and_time_limits_naming_the_url_and_the_limit(own_server, tmp_path):
    big, small = small_safetensors_bytes(96), small_safetensors_bytes(48)
    server = own_server("--allow-private-downloads", "--download-max-size", "64K", "--download-stall-timeout", "1",
                        "--download-time-limit", "5")
    with (ModelFileServer({"big.safetensors": big}) as sized, ModelFileServer({"big2.safetensors": big}) as unsized,
          ModelFileServer({"stalls.safetensors": small}) as stalled,
          ModelFileServer({"trickles.safetensors": small}) as trickling):
        unsized.faults.no_length = True
        stalled.faults.hold_after = 1_000  # and never released
        trickling.faults.trickle = (256, 0.05)  # about 5 KB/s: 48 KiB take ten seconds
        sources = [sized.url("big.safetensors"), unsized.url("big2.safetensors"), stalled.url("stalls.safetensors"),
                   trickling.url("trickles.safetensors")]

        async def scenario() -> dict[str, tuple[str, dict]]:
            async with aiohttp.ClientSession() as session, InstallClient(session, server.url) as installs:
                return await installs.install_all(sources)

        ends = run_async(scenario())
    expected = {sources[0]: "over the download size limit of 65,536 bytes",
                sources[1]: "over the download size limit of 65,536 bytes",
                sources[2]: "no data arrived for 1 s, the stall limit",
                sources[3]: "took longer than the time limit of 5 s"}
    for source, words in expected.items():
        kind, data = ends[source]
        assert kind == "model_install_error" and source in data["message"] and words in data["message"], data
        assert str(tmp_path) not in data["message"]
    left = sorted(p.name for p in (tmp_path / "models" / ".incoming").iterdir())
    assert left == ["stalls.safetensors.part", "trickles.safetensors.part"]  # kept to resume; oversized ones not
    assert server.process.poll() is None and "Traceback" not in server.log()


def test_a_source_is_a_url_or_a_hub_file_by_its_syntax_never_a_path_on_the_server(own_server, monkeypatch):
    with FakeHubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)  # the installation's own Hub: trusted, unlike a URL
        server = own_server()
        answers = set()
        for source in ("input/../../../etc/passwd", "input/../../../etc/no-such-file", "/etc/passwd",
                       "/etc/no-such-file", "file:///etc/passwd", "file:///etc/no-such-file", "..\\x",
                       "~/.bashrc", "C:\\Windows\\win.ini", "ftp://example.com/x.safetensors"):
            status, reply = call_json(f"{server.url}/api/models/install", "POST", {"source": source})
            assert (status, reply["error"]["type"]) == (400, "invalid_source"), (source, reply)
            answers.add(reply["error"]["message"].replace(source, "SOURCE"))
        assert len(answers) == 1, answers
        assert "latentloom models install PATH" in answers.pop()

        # Relative to the server's folder the first exists and the second does not; both are Hub references.
        sources = ["tests/fixtures/model_servers.py", "tests/fixtures/no_such_file.py"]

        async def scenario() -> dict[str, tuple[str, dict]]:
            async with aiohttp.ClientSession() as session, InstallClient(session, server.url) as installs:
                return await installs.install_all(sources)

        ends = run_async(scenario())
    assert {ends[s][0] for s in sources} == {"model_install_error"}
    assert {ends[s][1]["message"] for s in sources} == {ends[sources[0]][1]["message"]}
    assert "Repository tests/fixtures was not found" in ends[sources[0]][1]["message"]
    assert not any((server.base_dir / "models" / ".incoming").iterdir())


def test_urls_of_loopback_private_and_metadata_addresses_are_refused_without_a_word_on_what_is_there(own_server):
    model = small_safetensors_bytes(16)
    server = own_server()
    with ModelFileServer({"m.safetensors": model}) as local:
        port, closed = local.ports[0], free_port()
        sources = [f"http://{host}:{port}/files/m.safetensors" for host in (
            "127.0.0.1", "localhost", "[::1]", "2130706433", "0x7f.1", "0177.0.0.1", "[::ffff:127.0.0.1]")]
        sources += [f"http://127.0.0.1:{closed}/files/m.safetensors", "http://169.254.169.254/latest/meta-data/",
                    "http://[fd00:ec2::254]/latest/meta-data/", "https://2852039166/latest/meta-data/"]

        async def scenario() -> dict[str, tuple[str, dict]]:
            async with aiohttp.ClientSession() as session, InstallClient(session, server.url) as installs:
                return await installs.install_all(sources)

        ends = run_async(scenario())
        assert local.requests == []
    messages = {ends[s][1]["message"].replace(s, "URL") for s in sources}
    assert {ends[s][0] for s in sources} == {"model_install_error"}
    assert messages == {"URL is on an address that is not allowed: this server downloads only from public internet "
                        "addresses, not from itself, its local network or cloud metadata services. Its owner can "
                        "allow those by starting it with --allow-private-downloads."}
    assert not any((server.base_dir / "models" / ".incoming").iterdir())
