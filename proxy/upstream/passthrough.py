"""Header passthrough on the data plane: the client's allowlisted request headers added to one upstream call.

The transports put the client's headers in ``incoming_headers``: a Streamable HTTP POST its own
(proxy.transports.http), a WebSocket its handshake's, a legacy SSE stream its GET's (their calls run in tasks
started from the connection's context). A call to an upstream with an allowlist (catalog.passthrough) then goes out
on a target whose headers carry the forwarded ones.

Pooled upstream sessions are shared, and the SDK fixes an HTTP session's headers when it opens, so forwarded headers
cannot be set per call on a shared session. Instead they are part of the target: the pool key fingerprints the
target's headers (catalog.snapshot.UpstreamTarget.pool_key), so callers that forward different values get different
upstream sessions and never share one, while callers with the same values share it. Such sessions are reaped after
GATEHOUSE_BOUND_SESSION_IDLE_SECONDS idle (``caller_headers``), so the pool cannot grow without bound. The upstream's
own configured credentials win over a forwarded header of the same name. REST tools take the same target: one HTTP
request per call, so nothing is shared.
"""
from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Mapping

from django.conf import settings

from catalog.passthrough import PassthroughError, passthrough_headers
from catalog.snapshot import UpstreamTarget
from proxy.protocol.jsonrpc import INVALID_REQUEST, JsonRpcError

incoming_headers: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "gatehouse_incoming_headers", default=None
)


def target_for_call(target: UpstreamTarget) -> UpstreamTarget:
    """``target`` with the current request's allowlisted headers added; unchanged when there are none.

    Raises JsonRpcError (-32600) for a forwarded header holding control characters (CR/LF, NUL …).
    """
    if not target.passthrough or not settings.GATEHOUSE_HEADER_PASSTHROUGH:
        return target
    incoming = incoming_headers.get()
    if not incoming:
        return target
    try:
        forwarded = passthrough_headers(allowlist=target.passthrough, incoming=incoming)
    except PassthroughError as exc:
        raise JsonRpcError(INVALID_REQUEST, f"Header passthrough to '{target.name}' refused: {exc}") from None
    own = {name.lower() for name, _ in target.headers}
    extra = tuple(sorted((name, value) for name, value in forwarded.items() if name not in own))
    if not extra:
        return target
    return dataclasses.replace(target, headers=target.headers + extra, caller_headers=True)
