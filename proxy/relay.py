"""Messages from upstreams to downstream clients, and the clients' answers: the calls in flight per client session,
server→client requests waiting for their answer, and each session's standing stream (a GET stream, a legacy SSE
stream or a WebSocket) reached through the channel layer from any process.

Ids are remapped: a client sees ids Gatehouse chose (``gatehouse-…``) and can answer only requests sent to its own
session; the upstream's ids never leave the upstream session.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from config.cache import process_cache
from config.memo import BoundedMemo
from proxy.protocol.calls import DownstreamCall
from proxy.protocol.jsonrpc import RequestId

logger = logging.getLogger(__name__)

# Channel-layer message type a standing stream receives: one JSON-RPC message to write out.
OUTBOUND_EVENT = "mcp.outbound"
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")

_STANDING_PREFIX = "gatehouse:mcp-standing:"
_active: dict[str, list[tuple[DownstreamCall, asyncio.Task | None]]] = {}
_pending: dict[str, tuple[str, asyncio.Future]] = {}
_log_levels: BoundedMemo[str, str] = BoundedMemo(50_000)


class ClientUnreachable(Exception):
    """The client has no open stream that could carry a server→client request."""


def session_group(nonce: str) -> str:
    """The channel-layer group of one client session's standing stream: per session, never shared."""
    return f"mcp-session.{nonce}"


@contextmanager
def call_scope(call: DownstreamCall) -> Iterator[None]:
    """Register a call while it runs, so its session's upstream messages find it and a cancel can reach it."""
    nonce = call.session_nonce
    if nonce is None:
        yield
        return
    entry = (call, asyncio.current_task())
    _active.setdefault(nonce, []).append(entry)
    try:
        yield
    finally:
        calls = _active.get(nonce, [])
        if entry in calls:
            calls.remove(entry)
        if not calls:
            _active.pop(nonce, None)


def call_cancel(nonce: str, request_id: RequestId) -> bool:
    """The client gave up on ``request_id`` (``notifications/cancelled``): stop its work here."""
    for call, task in _active.get(nonce, []):
        if call.request_id == request_id and task is not None:
            task.cancel()
            return True
    return False


def _streaming_call(nonce: str) -> DownstreamCall | None:
    """The most recent call of the session whose response can carry messages; relayed messages ride on it."""
    for call, _ in reversed(_active.get(nonce, [])):
        if call.can_stream:
            return call
    return None


def standing_mark(nonce: str) -> None:
    """A standing stream for ``nonce`` is open (refreshed while it stays open)."""
    process_cache().set(_STANDING_PREFIX + nonce, 1, settings.GATEHOUSE_SSE_KEEPALIVE_SECONDS * 2 + 5)


def standing_clear(nonce: str) -> None:
    process_cache().delete(_STANDING_PREFIX + nonce)


async def _standing_send(nonce: str, message: dict[str, Any]) -> bool:
    if not process_cache().get(_STANDING_PREFIX + nonce):
        return False
    await get_channel_layer().group_send(session_group(nonce), {"type": OUTBOUND_EVENT, "message": message})
    return True


async def session_notify(nonce: str, message: dict[str, Any]) -> None:
    """A notification for a session: on the response stream of its latest call, else on its standing stream."""
    call = _streaming_call(nonce)
    if call is not None:
        await call.send(message)
    else:
        await _standing_send(nonce, message)


def log_level_set(nonce: str, level: str) -> None:
    _log_levels.put(nonce, level)


def log_wanted(nonce: str, level: str) -> bool:
    """Whether a log message at ``level`` passes the session's ``logging/setLevel`` (everything by default)."""
    threshold = _log_levels.get(nonce)
    if threshold is None or level not in LOG_LEVELS:
        return True
    return LOG_LEVELS.index(level) >= LOG_LEVELS.index(threshold)


async def client_request(nonce: str, method: str, params: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """Send a server→client request to the session's client and wait for its JSON-RPC answer (result or error).

    Raises ClientUnreachable when no open stream can carry it, TimeoutError when the client does not answer.
    """
    request_id = f"gatehouse-{secrets.token_urlsafe(12)}"
    message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    future: asyncio.Future = asyncio.get_running_loop().create_future()
    _pending[request_id] = (nonce, future)
    try:
        call = _streaming_call(nonce)
        if call is not None:
            await call.send(message)
        elif not await _standing_send(nonce, message):
            raise ClientUnreachable(f"The client has no open stream to receive {method}.")
        async with asyncio.timeout(timeout):
            return await future
    except asyncio.CancelledError:
        # The upstream gave up (or its call was cancelled): tell the client to stop working on it.
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}}
        await asyncio.shield(session_notify(nonce, cancel))
        raise
    finally:
        _pending.pop(request_id, None)


def client_answer(nonce: str, message: dict[str, Any]) -> bool:
    """A client's response to a server→client request; False if it answers nothing this session is waiting for."""
    request_id = message.get("id")
    if not isinstance(request_id, str):
        return False
    waiting = _pending.get(request_id)
    if waiting is None or waiting[0] != nonce or waiting[1].done():
        return False
    waiting[1].set_result(message)
    return True
