"""Model installs run on threads of their own, a few at a time, so a download never takes one of the threads that
answer /prompt and /object_info; a few more wait in line, and beyond that a client is asked to come back later."""
from __future__ import annotations

import asyncio
import threading
from typing import Callable, TypeVar

T = TypeVar("T")


class InstallsBusy(Exception):
    """Every install place, running and waiting, is taken; the message says so for the client."""


class InstallSlots:
    """`running` installs at once, `waiting` more in line (first come, first served)."""

    def __init__(self, running: int, waiting: int) -> None:
        self.running, self.waiting = running, waiting
        self._admitted = 0  # running and waiting
        self._slots = asyncio.Semaphore(running)

    def admit(self) -> int:
        """Take a place for one install: 0 when it can start at once, else its place in line (1: next to start).
        InstallsBusy when the line is full; every admitted install must then go through `run`."""
        if self._admitted >= self.running + self.waiting:
            raise InstallsBusy(f"{self.running} model installs are running and {self.waiting} are waiting, the "
                               f"most this server takes; try again when one has finished.")
        place = max(self._admitted - self.running + 1, 0)
        self._admitted += 1
        return place

    async def run(self, call: Callable[[], T]) -> T:
        """Wait for a free slot, then run `call` on a thread of its own; the place is given back at the end."""
        try:
            async with self._slots:
                return await _on_own_thread(call)
        finally:
            self._admitted -= 1


async def _on_own_thread(call: Callable[[], T]) -> T:
    """`call` on a daemon thread: unlike an executor's threads, a download in progress does not hold up the
    server's exit (its partial file stays and the next install of the same file resumes it)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def work() -> None:
        try:
            outcome = (call(), None)
        except BaseException as error:  # handed to the awaiting route, which reports it
            outcome = (None, error)
        try:
            loop.call_soon_threadsafe(_settle, future, *outcome)
        except RuntimeError:
            pass  # the loop has closed: the server stopped while this install ran

    threading.Thread(target=work, name="latentloom-install", daemon=True).start()
    return await future


def _settle(future: asyncio.Future, result: object, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
