"""Load on a loopback server: concurrent clients submitting cheap prompts; every one must reach the history with
success, none lost or duplicated. Bounded in count and time; stops by itself.

Each client holds a websocket open (as API clients do) and submits its share of prompts one after another.
Prints submit latency p50/p99, throughput (prompts finished per second) and the server's RSS before and after.

Then one client submits prompts one after another, first with no other websocket connected, then with many idle
ones (connected, reading what they are sent, in a process of their own): the submit latency p50 of both and their
ratio (a status broadcast must not cost each submission a write to every client).

    .venv/bin/python bench/server_load.py [--clients 100] [--prompts 1000] [--idle 1000] [--idle-prompts 300]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server_process import first_answer, rss_bytes, start, stop  # noqa: E402

TIME_LIMIT = 300.0


def cheap_prompt(value: int) -> dict:
    """PrimitiveInt -> PreviewAny: the value comes back in the history, so a mix-up would show."""
    return {"1": {"class_type": "PrimitiveInt", "inputs": {"value": value}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}


async def client(session: aiohttp.ClientSession, url: str, index: int, values: list[int],
                 latencies: list[float], submitted: dict[str, int]) -> None:
    ws_url = url.replace("http", "ws", 1) + f"/ws?clientId=load-{index}"
    async with session.ws_connect(ws_url) as socket:
        reader = asyncio.create_task(drain(socket))
        for value in values:
            started = time.perf_counter()
            async with session.post(url + "/prompt", json={"prompt": cheap_prompt(value),
                                                            "client_id": f"load-{index}"}) as response:
                answer = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"submit refused: {response.status} {answer}")
            latencies.append(time.perf_counter() - started)
            submitted[answer["prompt_id"]] = value
        reader.cancel()


async def drain(socket: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in socket:
        pass


async def wait_for_all(session: aiohttp.ClientSession, url: str, expected: int, deadline: float) -> dict:
    while time.monotonic() < deadline:
        async with session.get(url + "/history") as response:
            history = await response.json()
        if len(history) >= expected:
            return history
        await asyncio.sleep(0.2)
    raise RuntimeError(f"only {len(history)} of {expected} prompts reached the history in time")


async def run_load(url: str, clients: int, prompts: int) -> tuple[list[float], dict, dict, float]:
    latencies: list[float] = []
    submitted: dict[str, int] = {}
    shares = [list(range(i, prompts, clients)) for i in range(clients)]
    deadline = time.monotonic() + TIME_LIMIT
    connector = aiohttp.TCPConnector(limit=clients + 10)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(client(session, url, i, share, latencies, submitted)
                                                for i, share in enumerate(shares))), TIME_LIMIT)
        history = await wait_for_all(session, url, prompts, deadline)
        elapsed = time.monotonic() - started
    return latencies, submitted, history, elapsed


async def submit_in_turn(url: str, count: int) -> list[float]:
    """One API client's submit latencies (its websocket open), each prompt sent when the previous one's answer came.

    It gives its client id, as API clients do: a prompt without one has its events sent to every client."""
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url.replace("http", "ws", 1) + "/ws?clientId=in-turn") as socket:
            reader = asyncio.create_task(drain(socket))
            for value in range(count):
                started = time.perf_counter()
                async with session.post(url + "/prompt", json={"prompt": cheap_prompt(value),
                                                                "client_id": "in-turn"}) as response:
                    if response.status != 200:
                        raise RuntimeError(f"submit refused: {response.status} {await response.text()}")
                latencies.append(time.perf_counter() - started)
            reader.cancel()
    return latencies


async def hold_idle_sockets(url: str, count: int, ready, done) -> None:
    """`count` websockets that only read; `ready` is set once all are connected, they close when `done` is set."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = []
        for index in range(count):
            sockets.append(await session.ws_connect(url.replace("http", "ws", 1) + f"/ws?clientId=idle-{index}"))
        readers = [asyncio.create_task(drain(socket)) for socket in sockets]
        ready.set()
        while not done.is_set():
            await asyncio.sleep(0.1)
        for reader in readers:
            reader.cancel()
        for socket in sockets:
            await socket.close()


def idle_sockets_process(url: str, count: int, ready, done) -> None:
    asyncio.run(hold_idle_sockets(url, count, ready, done))


def latency_with_idle_sockets(url: str, idle: int, prompts: int) -> tuple[list[float], list[float]]:
    """(latencies with no other websocket, latencies with `idle` idle websockets connected)."""
    alone = asyncio.run(submit_in_turn(url, prompts))
    ready, done = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=idle_sockets_process, args=(url, idle, ready, done), daemon=True)
    holder.start()
    try:
        if not ready.wait(TIME_LIMIT):
            raise RuntimeError(f"{idle} idle websockets did not connect within {TIME_LIMIT:.0f} s")
        crowded = asyncio.run(submit_in_turn(url, prompts))
    finally:
        done.set()
        holder.join(30)
        if holder.is_alive():
            holder.kill()
    return alone, crowded


def check(submitted: dict[str, int], history: dict, prompts: int) -> list[str]:
    problems = []
    if len(submitted) != prompts:
        problems.append(f"{prompts - len(submitted)} submissions got no prompt id")
    if set(history) != set(submitted):
        problems.append(f"history and submissions differ: {len(set(submitted) - set(history))} lost, "
                        f"{len(set(history) - set(submitted))} unknown")
    wrong = [pid for pid, entry in history.items()
             if entry["status"]["status_str"] != "success" or entry["outputs"]["2"]["text"] != [str(submitted[pid])]]
    if wrong:
        problems.append(f"{len(wrong)} prompts failed or came back with another prompt's value")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=1000, help="idle websockets for the latency comparison")
    parser.add_argument("--idle-prompts", type=int, default=300, help="prompts submitted in turn, with and without")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        history_size = args.prompts + 2 * args.idle_prompts + 10
        process, url, _ = start(Path(folder), "--max-history", str(history_size))
        try:
            first_answer(process, url + "/system_stats")
            rss_before = rss_bytes(process)
            latencies, submitted, history, elapsed = asyncio.run(run_load(url, args.clients, args.prompts))
            rss_after = rss_bytes(process)
            alone, crowded = latency_with_idle_sockets(url, args.idle, args.idle_prompts)
        finally:
            stop(process)
    problems = check(submitted, history, args.prompts)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"{args.clients} clients, {args.prompts} prompts (PrimitiveInt -> PreviewAny), loopback")
    print(f"submit latency: p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"throughput: {args.prompts / elapsed:.0f} prompts/s finished ({elapsed:.1f} s from first submit to last "
          f"in history)")
    print(f"server RSS: {rss_before / 2**20:.0f} MiB before, {rss_after / 2**20:.0f} MiB after "
          f"({rss_after / rss_before:.2f}x)")
    print(f"history: {len(history)} entries, {len(set(history))} distinct ids, all success with their own value: "
          f"{'yes' if not problems else 'NO'}")
    p50_alone, p50_crowded = statistics.median(alone), statistics.median(crowded)
    print(f"submit latency, one client submitting {args.idle_prompts} in turn: p50 {p50_alone * 1000:.1f} ms with "
          f"no other websocket, {p50_crowded * 1000:.1f} ms with {args.idle} idle websockets connected "
          f"({p50_crowded / p50_alone:.2f}x)")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
