"""Upstream sessions bound 1:1 to a client session, owned by one process and reached from the others.

The process that opens a bound session records itself (its inbox channel, proxy.relay.process_inbox) as the owner in
the shared cache. A call for that client session landing on another process is forwarded there through the channel
layer: the owner runs it on its session around a stand-in call whose messages (progress, log messages, server→client
requests) travel back to the caller's stream, then sends the result or the error. Cancelling the caller cancels the
forwarded call. An owner that does not acknowledge within ``GATEHOUSE_SESSION_OWNER_TIMEOUT_SECONDS`` (gone, or no
longer holding the session) loses it: the caller takes ownership and opens a fresh upstream session.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from config.cache import process_cache
from proxy import relay
from proxy.protocol.calls import ClientFeatures, DownstreamCall
from proxy.upstream.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from proxy.upstream.operations import UpstreamOperation

logger = logging.getLogger(__name__)

FORWARD_EVENT = "mcp.forward"
FORWARD_REPLY = "mcp.forward.reply"
FORWARD_CANCEL = "mcp.forward.cancel"
_OWNER_PREFIX = "gatehouse:bound-owner:"
_ERRORS = {"unavailable": UpstreamUnavailable, "timeout": UpstreamTimeout}

_waiting: dict[str, asyncio.Queue] = {}  # forwarded from here: replies by forward id
_serving: dict[str, asyncio.Task] = {}  # forwarded to here: running calls by forward id
_background: set[asyncio.Task] = set()


def _record(key: tuple) -> str:
    return _OWNER_PREFIX + hashlib.sha256(repr(key).encode()).hexdigest()[:40]


def owner_release(key: tuple, inbox: str | None) -> None:
    """This process closed the bound session ``key``: forget it as the owner (unless another process took over)."""
    cache = process_cache()
    if inbox is not None and cache.get(_record(key)) == inbox:
        cache.delete(_record(key))


async def forwarded(target, key: tuple, operation: Any, call: DownstreamCall) -> dict[str, Any] | None:
    """Run ``operation`` on the bound session ``key`` in the process that owns it and return its result; None when
    this process owns it (now), so the caller runs it here."""
    if not isinstance(operation, UpstreamOperation):
        return None
    cache, me = process_cache(), await relay.process_inbox()
    ttl = settings.GATEHOUSE_MCP_SESSION_TTL_SECONDS
    owner = cache.get(_record(key))
    if owner is None and cache.add(_record(key), me, ttl):
        return None
    owner = owner or cache.get(_record(key))
    if owner in (None, me):
        cache.set(_record(key), me, ttl)
        return None
    result = await _forward(owner, me, target, key, operation, call)
    if result is None:
        logger.info("Owner of a bound session to %s did not answer: taking the session over", target.name)
        cache.set(_record(key), me, ttl)
    return result


async def _forward(
    owner: str, me: str, target, key: tuple, operation: UpstreamOperation, call: DownstreamCall
) -> dict[str, Any] | None:
    forward_id = secrets.token_urlsafe(12)
    replies: asyncio.Queue = asyncio.Queue()
    _waiting[forward_id] = replies
    layer = get_channel_layer()
    await layer.send(owner, {
        "type": FORWARD_EVENT, "id": forward_id, "reply": me, "key": list(key), "method": operation.method,
        "params": operation.params, "request_id": call.request_id, "stream": call.can_stream,
        "progress": call.progress_token, "features": call.features.bits,
    })
    accepted = False
    try:
        async with asyncio.timeout(settings.GATEHOUSE_SESSION_OWNER_TIMEOUT_SECONDS):
            accepted = (await replies.get())["kind"] == "accepted"
        if not accepted:
            return None
        # The owner enforces the upstream's deadline; this one only outlives an owner that died mid-call.
        async with asyncio.timeout(target.timeout_seconds + settings.GATEHOUSE_SESSION_OWNER_TIMEOUT_SECONDS):
            while True:
                reply = await replies.get()
                if reply["kind"] == "message":
                    await call.send(reply["message"])
                elif reply["kind"] == "result":
                    return reply["result"]
                else:
                    error = _ERRORS.get(reply.get("error"), UpstreamError)
                    raise error(reply["message"], code=reply.get("code"), data=reply.get("data"))
    except TimeoutError:
        if not accepted:
            return None
        raise UpstreamTimeout(f"Upstream '{target.name}' did not answer within {target.timeout_seconds:g}s.") from None
    except asyncio.CancelledError:
        if accepted:
            await asyncio.shield(layer.send(owner, {"type": FORWARD_CANCEL, "id": forward_id}))
        raise
    finally:
        _waiting.pop(forward_id, None)


class _ForwardOutlet:
    """The caller's stream, one channel-layer hop away."""

    def __init__(self, reply: str, forward_id: str, can_stream: bool) -> None:
        self.reply, self.forward_id, self._can_stream = reply, forward_id, can_stream

    @property
    def can_stream(self) -> bool:
        return self._can_stream

    async def send(self, message: dict[str, Any]) -> None:
        await _reply(self.reply, self.forward_id, kind="message", message=message)


async def _reply(channel: str, forward_id: str, **fields: Any) -> None:
    await get_channel_layer().send(channel, {"type": FORWARD_REPLY, "id": forward_id, **fields})


async def _serve(event: dict[str, Any]) -> None:
    from proxy.upstream.pool import upstream_pool

    forward_id, reply = event["id"], event["reply"]
    pool, key = upstream_pool(), tuple(event["key"])
    pooled = pool.bound_session(key)
    if pooled is None:
        await _reply(reply, forward_id, kind="not_owner")
        return
    await _reply(reply, forward_id, kind="accepted")
    outlet = _ForwardOutlet(reply, forward_id, bool(event["stream"]))
    call = DownstreamCall(
        event["request_id"], outlet, key[-1], ClientFeatures.from_bits(event["features"]), event["progress"]
    )
    operation = UpstreamOperation(event["method"], event["params"], call)
    try:
        with relay.call_scope(call):
            result = await pool.request(pooled.target, operation, call)
    except UpstreamError as exc:
        kind = "timeout" if isinstance(exc, UpstreamTimeout) else "unavailable" if isinstance(
            exc, UpstreamUnavailable) else None
        await _reply(reply, forward_id, kind="error", error=kind, message=str(exc), code=exc.code, data=exc.data)
        return
    except asyncio.CancelledError:
        return  # the caller cancelled: it is not waiting for an answer
    except Exception as exc:  # noqa: BLE001 - the caller must get an answer, not wait for its deadline
        logger.exception("Forwarded call to %s failed", pooled.target.name)
        await _reply(reply, forward_id, kind="error", error="unavailable", message=f"Upstream '{pooled.target.name}' "
                     f"failed: {type(exc).__name__}", code=None, data=None)
        return
    await _reply(reply, forward_id, kind="result", result=result)


def _on_forward(event: dict[str, Any]) -> None:
    task = asyncio.get_running_loop().create_task(_serve(event), name="mcp-forwarded-call")
    _serving[event["id"]] = task
    _background.add(task)

    def done(finished: asyncio.Task) -> None:
        _background.discard(finished)
        _serving.pop(event["id"], None)

    task.add_done_callback(done)


def _on_reply(event: dict[str, Any]) -> None:
    replies = _waiting.get(event["id"])
    if replies is not None:
        replies.put_nowait(event)


def _on_cancel(event: dict[str, Any]) -> None:
    task = _serving.get(event["id"])
    if task is not None:
        task.cancel()


relay.INBOX_HANDLERS.update({FORWARD_EVENT: _on_forward, FORWARD_REPLY: _on_reply, FORWARD_CANCEL: _on_cancel})
