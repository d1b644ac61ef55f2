"""The data plane's side of traffic capture (audit.capture): which requests are captured, and what is recorded.

``handlers.handle_request`` calls ``captured`` only when the snapshot says something behind it captures
(``CatalogSnapshot.capture_any``, one attribute read); with capture off nothing here runs. Recorded per request: the
client's request (client → gateway), what the gateway streams to the client while answering (progress, log
messages, server→client requests; gateway → client) and the reply (gateway → client) with duration, sizes and error
code. Not recorded: the gateway ↔ upstream leg, ``initialize``, and client notifications and answers.
"""
from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from audit.capture import Capture, capture_submit, session_digest
from catalog.snapshot import CatalogSnapshot, Route
from proxy.protocol.jsonrpc import JsonRpcError, error_message, result_message

if TYPE_CHECKING:
    from proxy.protocol.handlers import CallContext

IN, OUT = "in", "out"  # audit.models.CapturedMessage.Direction


def _target(snapshot: CatalogSnapshot, method: str, params: dict[str, Any]) -> tuple[str, Route | None]:
    """The tool, prompt or resource a request names, and where it is routed (None for listings and unknowns)."""
    if method in ("tools/call", "prompts/get"):
        name = params.get("name")
        if not isinstance(name, str):
            return "", None
        return name, (snapshot.tools if method == "tools/call" else snapshot.prompts).get(name)
    if method in ("resources/read", "resources/subscribe", "resources/unsubscribe"):
        uri = params.get("uri")
        return (uri, snapshot.resource_route(uri)) if isinstance(uri, str) else ("", None)
    if method == "completion/complete":
        ref = params.get("ref") if isinstance(params.get("ref"), dict) else {}
        if ref.get("type") == "ref/prompt" and isinstance(ref.get("name"), str):
            return ref["name"], snapshot.prompts.get(ref["name"])
        if ref.get("type") == "ref/resource" and isinstance(ref.get("uri"), str):
            return ref["uri"], snapshot.template_route(ref["uri"])
    return "", None


def _json(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


class _CapturingOutlet:
    """Passes what the upstream sends during the call to the client, recording each message on the way."""

    def __init__(self, outlet, record: Callable[..., None]) -> None:
        self._outlet = outlet
        self._record = record

    @property
    def can_stream(self) -> bool:
        return self._outlet.can_stream

    async def send(self, message: dict[str, Any]) -> None:
        text = _json(message)
        method = message.get("method")
        self._record(OUT, method if isinstance(method, str) else "(response)", text, response_bytes=_size(text))
        await self._outlet.send(message)


async def captured(
    ctx: CallContext, method: str, params: dict[str, Any],
    handle: Callable[[CallContext, str, dict[str, Any]], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """``handle(ctx, method, params)``, recorded when the server or the upstream the request goes to captures."""
    snapshot = ctx.snapshot
    name, route = _target(snapshot, method, params)
    if not snapshot.capture_traffic and (route is None or not route.upstream.capture_traffic):
        return await handle(ctx, method, params)
    call = ctx.call
    rpc_id = call.request_id if call is not None else None
    principal = ctx.principal
    common = {
        "name": name, "rpc_id": "" if rpc_id is None else str(rpc_id),
        "session_digest": session_digest(ctx.session.nonce if ctx.session is not None else None),
        "user_id": principal.user_id, "token_id": principal.token_id,
        "principal_label": "anonymous" if principal.anonymous else principal.email,
        "server_slug": snapshot.server_slug, "upstream_slug": route.upstream.slug if route is not None else "",
    }

    def record(direction: str, message_method: str, text: str, **fields: Any) -> None:
        capture_submit(Capture(direction=direction, method=message_method, text=text, **common, **fields))

    request_text = _json({"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": params})
    request_bytes = _size(request_text)
    record(IN, method, request_text, request_bytes=request_bytes)
    if call is not None and call.outlet is not None:
        call.outlet = _CapturingOutlet(call.outlet, record)
    started = time.perf_counter()

    def reply(message: dict[str, Any], error_code: int | None = None) -> None:
        text = _json(message)
        duration_ms = int((time.perf_counter() - started) * 1000)
        record(OUT, method, text, request_bytes=request_bytes, response_bytes=_size(text), duration_ms=duration_ms,
               error_code=error_code)

    try:
        result = await handle(ctx, method, params)
    except JsonRpcError as exc:
        reply(error_message(rpc_id, exc), exc.code)
        raise
    reply(result_message(rpc_id, result))
    return result
