"""A client whose outbox is backed up gets the first preview of a burst and not the rest: previews that pile up
behind other messages are stale, but a run of fast steps must not leave the client with none."""
from __future__ import annotations

from web.client_hub import PREVIEW_BACKLOG, Client


def queued(client: Client) -> list[str | bytes]:
    """What the client's sender would send, in order."""
    return [client.outbox.get_nowait() for _ in range(client.outbox.qsize())]


def test_behind_a_backlog_the_first_preview_is_queued_and_later_ones_are_dropped():
    client = Client("slow", socket=None, wants_previews=True)
    texts = [f'{{"type":"progress","value":{step}}}' for step in range(PREVIEW_BACKLOG)]
    for text in texts:
        client.offer(text)
    client.offer(b"preview 1")
    client.offer(b"preview 2")
    client.offer('{"type":"executed"}')
    assert queued(client) == [*texts, b"preview 1", '{"type":"executed"}']


def test_without_a_backlog_every_preview_is_queued():
    client = Client("fast", socket=None, wants_previews=True)
    client.offer(b"preview 1")
    client.offer(b"preview 2")
    assert queued(client) == [b"preview 1", b"preview 2"]
