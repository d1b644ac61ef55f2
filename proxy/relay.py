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
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from config.cache import process_cache
from proxy.protocol.calls import DownstreamCall, log_level_passes
from proxy.protocol.jsonrpc import RequestId

logger = logging.getLogger(__name__)

# Channel-layer message type a standing stream receives: one JSON-RPC message to write out.
OUTBOUND_EVENT = "mcp.outbound"
# Channel-layer message type a process's answer inbox receives: a client's answer POSTed to another process.
ANSWER_EVENT = "mcp.answer"

_STANDING_PREFIX = "gatehouse:mcp-standing:"
_active: dict[str, list[tuple[DownstreamCall, asyncio.Task | None]]] = {}
_pending: dict[str, tuple[str, asyncio.Future]] = {}
# A session's logging/setLevel, in the shared cache: a call forwarded to the process that owns the session's bound
# upstream session (proxy.upstream.owners) filters its log messages there.
_LOG_LEVEL_PREFIX = "gatehouse:mcp-log-level:"
_inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[str, asyncio.Task]] = (
    weakref.WeakKeyDictionary()
)
# Other messages a process's inbox takes, by channel-layer type (forwarded upstream calls, held calls); each handler
# must return at once (start a task for anything slow) so the inbox keeps draining.
INBOX_HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {}


class ClientUnreachable(Exception):
    """The client has no open stream that could carry a server→client request."""


def session_group(nonce: str) -> str:
    """The channel-layer group of one client session's standing stream: per session, never shared."""
    return f"mcp-session.{nonce}"


def answers_group(nonce: str) -> str:
    """The channel-layer group of the processes waiting for answers from one client session."""
    return f"mcp-answers.{nonce}"


async def process_inbox() -> str:
    """This process's (event loop's) channel for answers POSTed to another process and for work other processes
    hand it (INBOX_HANDLERS); started on first use."""
    loop = asyncio.get_running_loop()
    inbox = _inboxes.get(loop)
    if inbox is None or inbox[1].done():
        layer = get_channel_layer()
        # The default prefix on purpose: channels_redis pops one Redis list per prefix under a single per-process
        # lock, so an inbox with a prefix of its own would hold that lock through its blocking pop and delay every
        # consumer's messages in this process by up to the layer's pop timeout (5 s) each.
        channel = await layer.new_channel()
        inbox = _inboxes[loop] = (channel, loop.create_task(_inbox_loop(layer, channel), name="mcp-answers-inbox"))
    return inbox[0]


def process_inbox_name() -> str | None:
    """This event loop's inbox channel if it was started, without starting it."""
    inbox = _inboxes.get(asyncio.get_running_loop())
    return inbox[0] if inbox is not None else None


async def _inbox_loop(layer, channel: str) -> None:
    while True:
        event = await layer.receive(channel)
        kind = event.get("type")
        if kind == ANSWER_EVENT:
            _resolve(event["nonce"], event["message"])
        elif kind in INBOX_HANDLERS:
            try:
                INBOX_HANDLERS[kind](event)
            except Exception:  # noqa: BLE001 - one bad message must not stop the inbox
                logger.exception("Inbox message %s could not be handled", kind)


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
    process_cache().set(_LOG_LEVEL_PREFIX + nonce, level, settings.GATEHOUSE_MCP_SESSION_TTL_SECONDS)


def log_wanted(nonce: str, level: str) -> bool:
    """Whether a log message at ``level`` passes the session's ``logging/setLevel`` (everything by default)."""
    threshold = process_cache().get(_LOG_LEVEL_PREFIX + nonce)
    return threshold is None or log_level_passes(level, threshold)


async def client_request(nonce: str, method: str, params: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """Send a server→client request to the session's client and wait for its JSON-RPC answer (result or error).

    Raises ClientUnreachable when no open stream can carry it, TimeoutError when the client does not answer.
    """
    request_id = f"gatehouse-{secrets.token_urlsafe(12)}"
    message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    future: asyncio.Future = asyncio.get_running_loop().create_future()
    _pending[request_id] = (nonce, future)
    # The answer may be POSTed to any process: listen for it on this session's answers group too.
    await get_channel_layer().group_add(answers_group(nonce), await process_inbox())
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
        if not any(waiting_nonce == nonce for waiting_nonce, _ in _pending.values()):
            await asyncio.shield(get_channel_layer().group_discard(answers_group(nonce), await process_inbox()))


def _resolve(nonce: str, message: dict[str, Any]) -> bool:
    request_id = message.get("id")
    if not isinstance(request_id, str):
        return False
    waiting = _pending.get(request_id)
    if waiting is None or waiting[0] != nonce or waiting[1].done():
        return False
    waiting[1].set_result(message)
    return True


async def client_answer(nonce: str, message: dict[str, Any]) -> None:
    """A client's response to a server→client request of its own session: to the waiting call in this process, or
    through the session's answers group to the process that holds it (unknown ids are dropped there)."""
    if not _resolve(nonce, message) and isinstance(message.get("id"), str):
        await get_channel_layer().group_send(
            answers_group(nonce), {"type": ANSWER_EVENT, "nonce": nonce, "message": message}
        )
