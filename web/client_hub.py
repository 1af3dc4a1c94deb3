"""The connected websocket clients: each gets its messages in order through its own outbox, events go to the
client that queued the prompt (or to all when it gave no client id), status goes to everyone."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import struct
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

log = logging.getLogger(__name__)

PREVIEW_FRAME = 1  # ComfyUI's binary event types: a preview image, and one with the node it belongs to
PREVIEW_WITH_METADATA_FRAME = 4
JPEG = 1
OUTBOX_LIMIT = 10000  # messages waiting for one client; past this it is too slow and is disconnected
PREVIEW_BACKLOG = 3  # a preview is dropped when this many messages already wait and so does an earlier preview
# (the client still gets one): its step's progress and progress_state messages come just before it
# At most one status broadcast per this many seconds: each one is a write to every client, so with many clients
# connected a broadcast per queue change would stall the loop (and every submission) in proportion to them.
STATUS_INTERVAL = 0.25


def preview_jpeg(image: Any) -> bytes:
    """A PIL image as the JPEG bytes every preview frame carries (encoded once, whatever frames the clients take)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def preview_frame(jpeg: bytes, metadata: dict[str, Any], with_metadata: bool) -> bytes:
    """ComfyUI's binary preview frame: type 4 (metadata length, metadata JSON naming the node and prompt, then the
    JPEG) for a client that said it supports preview metadata, else type 1 (format 1 = JPEG, then the JPEG)."""
    if not with_metadata:
        return struct.pack(">II", PREVIEW_FRAME, JPEG) + jpeg
    meta = json.dumps({**metadata, "image_type": "image/jpeg"}, separators=(",", ":")).encode()
    return struct.pack(">II", PREVIEW_WITH_METADATA_FRAME, len(meta)) + meta + jpeg


@dataclass(eq=False)
class Client:
    """One websocket connection and the messages waiting for it."""

    sid: str
    socket: web.WebSocketResponse
    wants_previews: bool
    preview_metadata: bool = False  # it said so in its feature_flags message: it gets type-4 previews
    outbox: asyncio.Queue = field(default_factory=asyncio.Queue)
    sender: asyncio.Task | None = None
    previews_waiting: int = 0  # preview frames in the outbox

    def offer(self, message: str | bytes) -> None:
        """Queue `message`; a preview behind a backlog that already holds one is dropped, so a slow client (or a
        burst of fast steps) is never sent a pile of stale previews, yet always gets one."""
        preview = isinstance(message, bytes)
        if preview and self.previews_waiting and self.outbox.qsize() >= PREVIEW_BACKLOG:
            return
        if self.outbox.qsize() >= OUTBOX_LIMIT:
            log.warning("websocket client %s is not reading its messages; disconnecting it", self.sid)
            self.sender.cancel()
            return
        self.previews_waiting += preview
        self.outbox.put_nowait(message)

    async def send_all(self) -> None:
        try:
            while True:
                message = await self.outbox.get()
                if isinstance(message, bytes):
                    self.previews_waiting -= 1
                    await self.socket.send_bytes(message)
                else:
                    await self.socket.send_str(message)
        except (ConnectionResetError, RuntimeError):
            pass  # the client went away; its handler cleans up
        finally:
            if not self.socket.closed:
                await self.socket.close()


class ClientHub:
    """Routes events to websocket clients; safe to call from the worker thread through the *_threadsafe methods."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue_remaining: Callable[[], int]) -> None:
        self.loop = loop
        self.queue_remaining = queue_remaining
        self.clients: dict[str, Client] = {}
        self._status_due = False
        self._status_lock = threading.Lock()
        self._last_status = float("-inf")  # loop time of the last status broadcast

    def attach(self, sid: str, socket: web.WebSocketResponse, wants_previews: bool) -> Client:
        """A new connection; one that reuses a connected client id replaces it (a reconnecting page)."""
        client = Client(sid, socket, wants_previews)
        client.sender = self.loop.create_task(client.send_all())
        self.clients[sid] = client
        client.offer(self._message("status", self.status_data(sid)))
        return client

    def detach(self, client: Client) -> None:
        if self.clients.get(client.sid) is client:
            del self.clients[client.sid]
        if client.sender is not None:
            client.sender.cancel()

    def status_data(self, sid: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": self.queue_remaining()}}}
        if sid is not None:
            data["sid"] = sid
        return data

    @staticmethod
    def _message(kind: str, data: Any) -> str:
        return json.dumps({"type": kind, "data": data}, separators=(",", ":"), default=repr)

    def send(self, kind: str, data: Any, client_id: str | None) -> None:
        """On the loop: to `client_id` when given (dropped if it is not connected), else to every client."""
        message = self._message(kind, data)
        if client_id is None:
            for client in list(self.clients.values()):
                client.offer(message)
        elif (client := self.clients.get(client_id)) is not None:
            client.offer(message)

    def _call_soon(self, callback: Callable, *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass  # the loop has closed: the server is shutting down

    def send_threadsafe(self, kind: str, data: Any, client_id: str | None) -> None:
        self._call_soon(self.send, kind, data, client_id)

    def wants_previews(self, client_id: str | None) -> bool:
        client = self.clients.get(client_id) if client_id is not None else None
        return client is not None and client.wants_previews

    def listening(self, client_id: str | None) -> bool:
        """Whether a message for `client_id` (None: for everyone) would reach anyone now."""
        return bool(self.clients) if client_id is None else client_id in self.clients

    def send_preview_threadsafe(self, jpeg: bytes, metadata: dict[str, Any], client_id: str) -> None:
        def deliver() -> None:
            client = self.clients.get(client_id)
            if client is not None and client.wants_previews:
                client.offer(preview_frame(jpeg, metadata, client.preview_metadata))

        self._call_soon(deliver)

    def queue_changed_threadsafe(self) -> None:
        """A change is broadcast at most STATUS_INTERVAL later, with the queue as it is then; changes in between
        share that broadcast, so there is never more than one per interval however many clients are connected."""
        with self._status_lock:
            if self._status_due:
                return
            self._status_due = True
        self._call_soon(self._schedule_status)

    def _schedule_status(self) -> None:
        wait = self._last_status + STATUS_INTERVAL - self.loop.time()
        if wait > 0:
            self.loop.call_later(wait, self._broadcast_status)
        else:
            self._broadcast_status()

    def _broadcast_status(self) -> None:
        with self._status_lock:
            self._status_due = False  # a change from now on gets a broadcast of its own
        self._last_status = self.loop.time()
        self.send("status", self.status_data(), None)

    async def close_all(self) -> None:
        for client in list(self.clients.values()):
            self.detach(client)
            await client.socket.close()
