"""Events of Streamable HTTP streams, kept in the shared cache (Redis when configured) so a client that lost its
connection resumes with ``Last-Event-ID`` on any process. An event id is ``<stream id>:<sequence>``; a stream id
starts with the session's nonce, so a session can resume only its own streams."""
from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings

from config.cache import process_cache

_PREFIX = "gatehouse:mcp-events:"


def stream_id_new(nonce: str, *, standing: bool) -> str:
    """A new stream of session ``nonce``: its standing GET stream (``g``) or the response to one POST (``p``)."""
    return f"{nonce}.{'g' if standing else 'p'}{secrets.token_hex(6)}"


def is_standing(stream_id: str) -> bool:
    return stream_id.rpartition(".")[2].startswith("g")


def stream_group(stream_id: str) -> str:
    """The channel-layer group that follows one stream live after its first connection is gone."""
    return f"mcp-stream.{stream_id}"


def event_append(stream_id: str, message: dict[str, Any]) -> tuple[str, int]:
    """Store the next event of a stream; its id and sequence number."""
    cache, ttl = process_cache(), settings.GATEHOUSE_EVENT_RETENTION_SECONDS
    counter = f"{_PREFIX}{stream_id}:n"
    cache.add(counter, 0, ttl)
    try:
        sequence = cache.incr(counter)
    except ValueError:  # expired between add and incr
        cache.set(counter, 1, ttl)
        sequence = 1
    cache.set(f"{_PREFIX}{stream_id}:{sequence}", message, ttl)
    return f"{stream_id}:{sequence}", sequence


def stream_finish(stream_id: str) -> None:
    """The stream carried its last event (the response to its request)."""
    process_cache().set(f"{_PREFIX}{stream_id}:done", 1, settings.GATEHOUSE_EVENT_RETENTION_SECONDS)


def event_id_parse(event_id: str, *, nonce: str) -> tuple[str, int] | None:
    """(stream id, sequence) of a ``Last-Event-ID`` the session ``nonce`` may resume from; None otherwise."""
    stream_id, _, sequence = event_id.rpartition(":")
    if not stream_id.startswith(nonce + ".") or not sequence.isdigit() or len(event_id) > 200:
        return None
    return stream_id, int(sequence)


def events_after(stream_id: str, sequence: int) -> tuple[list[tuple[str, int, dict[str, Any]]], bool]:
    """The stored events after ``sequence`` as (id, sequence, message), and whether the stream has finished."""
    cache = process_cache()
    last = cache.get(f"{_PREFIX}{stream_id}:n") or 0
    keys = [f"{_PREFIX}{stream_id}:{n}" for n in range(sequence + 1, last + 1)]
    found = cache.get_many(keys) if keys else {}
    events = [
        (f"{stream_id}:{n}", n, found[key])
        for n, key in zip(range(sequence + 1, last + 1), keys, strict=True)
        if key in found
    ]
    return events, bool(cache.get(f"{_PREFIX}{stream_id}:done"))
