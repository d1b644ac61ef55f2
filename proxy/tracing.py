"""One OpenTelemetry span per MCP request, named and attributed per the OTel MCP semantic conventions
(``{mcp.method.name} {target}``, kind SERVER), plus the virtual server and the upstream that answered.

The parent is the client's W3C trace context from ``params._meta`` (``traceparent``/``tracestate``, as the MCP
semantic conventions ask) or else from the HTTP ``traceparent`` header. While the span is current, the MCP SDK's
client puts its own child span's context in the ``_meta`` of every request sent upstream, so an upstream continues
the same trace through a pooled, shared session without per-request headers; REST upstreams get a ``traceparent``
header (proxy.upstream.rest). With tracing off (config.tracing.ENABLED false) every function here returns at once.
"""
from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from mcp_types import PROTOCOL_VERSION_META_KEY
from opentelemetry import propagate, trace

from catalog.snapshot import UpstreamTarget
from config import tracing

_OFF: AbstractContextManager[None] = nullcontext()
# Methods whose span name carries a low-cardinality target (the tool or prompt name).
_NAMED_TARGET = {"tools/call": "gen_ai.tool.name", "prompts/get": "gen_ai.prompt.name"}


def _parent(params: Mapping[str, Any], headers: Mapping[str, str] | None):
    meta = params.get("_meta")
    if isinstance(meta, dict) and isinstance(meta.get("traceparent"), str):
        carrier = {key: meta[key] for key in ("traceparent", "tracestate") if isinstance(meta.get(key), str)}
    elif headers is not None and "traceparent" in headers:
        carrier = {key: headers[key] for key in ("traceparent", "tracestate") if key in headers}
    else:
        return None
    context = propagate.extract(carrier)
    # A malformed traceparent is ignored (a fresh trace), never an error.
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def mcp_span(
    method: str, request_id: Any, params: Mapping[str, Any], *, server_slug: str, protocol: str,
    headers: Mapping[str, str] | None = None, session_id: str | None = None, protocol_version: str | None = None,
) -> AbstractContextManager[trace.Span | None]:
    """The span of one MCP request, current while it is answered (None when tracing is off). ``protocol`` is the
    carrier: ``http`` (Streamable HTTP, legacy SSE) or ``websocket``."""
    if not tracing.ENABLED:
        return _OFF
    attributes: dict[str, Any] = {
        "mcp.method.name": method,
        "jsonrpc.request.id": str(request_id),
        "network.transport": "tcp",
        "network.protocol.name": protocol,
        "gatehouse.server": server_slug or "*",
    }
    meta = params.get("_meta")
    version = protocol_version or (headers or {}).get("mcp-protocol-version")
    if version is None and isinstance(meta, dict) and isinstance(meta.get(PROTOCOL_VERSION_META_KEY), str):
        version = meta[PROTOCOL_VERSION_META_KEY]
    if version is None and method == "initialize" and isinstance(params.get("protocolVersion"), str):
        version = params["protocolVersion"]
    if version:
        attributes["mcp.protocol.version"] = version
    session_id = session_id or (headers or {}).get("mcp-session-id")
    if session_id:
        attributes["mcp.session.id"] = session_id
    name = method
    target = params.get("name")
    if method in _NAMED_TARGET and isinstance(target, str):
        attributes[_NAMED_TARGET[method]] = target
        name = f"{method} {target}"
    if method == "tools/call":
        attributes["gen_ai.operation.name"] = "execute_tool"
    elif method == "resources/read" and isinstance(params.get("uri"), str):
        attributes["mcp.resource.uri"] = params["uri"]
    return tracing.tracer().start_as_current_span(
        name, context=_parent(params, headers), kind=trace.SpanKind.SERVER, attributes=attributes,
    )


def mcp_span_answered(
    span: trace.Span | None, message: Mapping[str, Any] | None, *, session_id: str | None = None
) -> None:
    """Record how the request was answered: a JSON-RPC error code (``error.type`` and ``rpc.response.status_code``),
    or a tool result with ``isError`` (``error.type`` ``tool_error``)."""
    if span is None or message is None:
        return
    if session_id:
        span.set_attribute("mcp.session.id", session_id)
    error = message.get("error")
    if isinstance(error, dict):
        code = str(error.get("code"))
        span.set_attributes({"error.type": code, "rpc.response.status_code": code})
        span.set_status(trace.StatusCode.ERROR, str(error.get("message", ""))[:200])
        return
    result = message.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        span.set_attribute("error.type", "tool_error")
        span.set_status(trace.StatusCode.ERROR)


def session_noted(*, session_id: str, protocol_version: str) -> None:
    """The handshake-era session a request belongs to: its id and the version it negotiated (clients need not
    repeat it in a header)."""
    if tracing.ENABLED:
        attributes = {"mcp.session.id": session_id, "mcp.protocol.version": protocol_version}
        trace.get_current_span().set_attributes(attributes)


def upstream_noted(target: UpstreamTarget) -> None:
    """The upstream a request went to, on the request's span."""
    if tracing.ENABLED:
        trace.get_current_span().set_attribute("gatehouse.upstream", target.slug)


def upstream_span(method: str, request_id: int, params: Mapping[str, Any]) -> AbstractContextManager[trace.Span | None]:
    """The CLIENT span of a request Gatehouse sends upstream as a plain POST (proxy.upstream.stateless), current
    while it is sent so the request's ``_meta`` names it as the upstream's parent. The SDK client makes the same
    span for the requests it sends."""
    if not tracing.ENABLED:
        return _OFF
    attributes = {"mcp.method.name": method, "jsonrpc.request.id": str(request_id)}
    target = params.get("name") if method in _NAMED_TARGET else params.get("uri")
    name = f"{method} {target}" if isinstance(target, str) else method
    return tracing.tracer().start_as_current_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)


def trace_headers() -> dict[str, str]:
    """``traceparent``/``tracestate`` of the current span for an outgoing HTTP request (empty when tracing is off)."""
    if not tracing.ENABLED:
        return {}
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers
