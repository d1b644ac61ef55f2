"""Streamable HTTP semantics (handshake era), independent of the socket: a request in, a reply out."""
from __future__ import annotations

from dataclasses import dataclass

from proxy import event_store, relay
from proxy.protocol import modern, versions
from proxy.protocol.access import authenticate
from proxy.protocol.calls import ClientFeatures, DownstreamCall, Outlet
from proxy.protocol.handlers import CallContext, handle_request, initialize_result
from proxy.protocol.jsonrpc import (
    INVALID_REQUEST,
    JsonRpcError,
    Message,
    cancelled_request_id,
    parse_message,
    result_message,
)
from proxy.protocol.listen import LISTEN_METHOD, listen_serve
from proxy.protocol.replies import McpReply, McpRequest, unauthorized
from proxy.protocol.replies import error_reply as _error
from proxy.protocol.scope_check import endpoint_refusal
from proxy.protocol.session_messages import Conversation
from proxy.sessions import McpSession, session_end, session_issue, session_resolve
from proxy.snapshots import snapshot_for
from proxy.tracing import mcp_span, mcp_span_answered, session_noted
from proxy.upstream.pool import upstream_pool
from proxy.upstream.via import via_hops, via_refusal, via_scope
from teams.principal import Principal

__all__ = ["McpReply", "McpRequest", "StandingStream", "delete", "get", "post", "unauthorized"]

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
LAST_EVENT_HEADER = "last-event-id"
EVENT_STREAM = "text/event-stream"


class ResponseOutlet(Outlet):
    """The response of one POST, as the protocol sees it: it may stream, and may be resumed later."""

    def resumable(self, stream_id: str) -> None:
        """Keep this response's events under ``stream_id`` so the client can resume it after a disconnect."""

    def cancel_on_disconnect(self) -> None:
        """Closing this response cancels the call (the stateless era's rule)."""

    async def keepalive(self) -> None:
        """Keep an idle streaming response from being cut by proxies (an SSE comment)."""


def _unknown_server(request: McpRequest, request_id=None) -> McpReply:
    return _error(404, JsonRpcError(INVALID_REQUEST, f"Unknown server: {request.server_slug}"), request_id)


def _unknown_session(request_id=None) -> McpReply:
    return _error(404, JsonRpcError(INVALID_REQUEST, "Session not found: initialize a new session."), request_id)


async def post(request: McpRequest, outlet: ResponseOutlet | None = None) -> McpReply:
    """One POSTed message. ``outlet`` carries what the upstream sends while a request is answered (progress, log
    messages, server→client requests), when the transport can stream it."""
    principal, version = await authenticate(request.headers.get("authorization"), server_slug=request.server_slug)
    if principal is None:
        return unauthorized()
    refused = endpoint_refusal(principal, request.server_slug, endpoint="mcp")
    if refused is not None:
        return refused
    try:
        message = parse_message(request.body)
    except JsonRpcError as exc:
        return _error(exc.http_status, exc)
    if not message.is_request:
        return await _client_message(request, principal, message)
    hops = via_hops(request.headers, message.params)
    refusal = via_refusal(hops)
    if refusal is not None:
        return _error(refusal.http_status, refusal, message.id)
    with via_scope(hops), mcp_span(
        message.method, message.id, message.params, server_slug=request.server_slug, protocol="http",
        headers=request.headers,
    ) as span:
        reply = await _request_post(request, principal, version, message, outlet)
        mcp_span_answered(span, reply.message, session_id=reply.headers.get("Mcp-Session-Id"))
        return reply


async def _request_post(
    request: McpRequest, principal: Principal, version: int, message: Message, outlet: ResponseOutlet | None
) -> McpReply:
    if modern.is_modern(message, request.headers):
        return await _modern_post(request, principal, version, message, outlet)
    snapshot = await snapshot_for(principal, request.server_slug, version)
    if snapshot is None:
        return _unknown_server(request, message.id)
    if message.method == "initialize":
        return _initialize(principal, snapshot, message)
    session = _session_for(request, principal)
    if not isinstance(session, McpSession):
        return _error(session.http_status, session, message.id)
    session_noted(session_id=session.id, protocol_version=session.protocol_version)
    if outlet is not None:
        outlet.resumable(event_store.stream_id_new(session.nonce, standing=False))
    call = DownstreamCall.for_request(
        message.id, message.params, outlet=outlet, session_nonce=session.nonce,
        features=ClientFeatures.from_bits(session.client_features),
    )
    try:
        with relay.call_scope(call):
            result = await handle_request(CallContext(principal, snapshot, session, call), message.method, message.params)
    except JsonRpcError as exc:
        return _error(exc.http_status, exc, message.id)
    return McpReply(200, result_message(message.id, result))


def _session_for(request: McpRequest, principal: Principal) -> McpSession | JsonRpcError:
    """The handshake-era session a request names, or the error to answer (400 without one, 404 for an unknown one)."""
    session_id = request.headers.get(SESSION_HEADER)
    if not session_id:
        return JsonRpcError(INVALID_REQUEST, "Bad Request: the Mcp-Session-Id header is required.", http_status=400)
    header_version = request.headers.get(VERSION_HEADER, versions.DEFAULT_HEADER_VERSION)
    if header_version not in versions.HANDSHAKE_VERSIONS:
        error = f"Bad Request: unsupported MCP-Protocol-Version {header_version!r}."
        return JsonRpcError(INVALID_REQUEST, error, http_status=400)
    session = session_resolve(session_id, principal=principal, server_slug=request.server_slug)
    if session is None:
        return JsonRpcError(INVALID_REQUEST, "Session not found: initialize a new session.", http_status=404)
    return session


async def _client_message(request: McpRequest, principal: Principal, message: Message) -> McpReply:
    """A notification or a response: routed to what it concerns (a cancel to its call, an answer to the
    server→client request it answers) and acknowledged with 202."""
    if SESSION_HEADER not in request.headers:
        return McpReply(202)
    session = _session_for(request, principal)
    if not isinstance(session, McpSession):
        return _error(session.http_status, session)
    if message.is_response:
        await relay.client_answer(session.nonce, message.response)
        return McpReply(202)
    cancelled = cancelled_request_id(message)
    if cancelled is not None:
        relay.call_cancel(session.nonce, cancelled)
    return McpReply(202)


async def _modern_post(
    request: McpRequest, principal: Principal, version: int, message: Message, outlet: ResponseOutlet | None
) -> McpReply:
    error = modern.rejection(message, request.headers)
    if error is not None:
        return _error(error.http_status, error, message.id)
    snapshot = await snapshot_for(principal, request.server_slug, version)
    if snapshot is None:
        return _unknown_server(request, message.id)
    error = modern.param_header_rejection(snapshot, message, request.headers)
    if error is not None:
        return _error(error.http_status, error, message.id)
    if outlet is not None:
        outlet.cancel_on_disconnect()
    if message.method == LISTEN_METHOD:
        return await _listen(request, principal, snapshot, message, outlet)
    call = DownstreamCall.for_request(
        message.id, message.params, outlet=outlet, session_nonce=None, features=modern.client_features(message)
    )
    try:
        result = await modern.answer(principal, snapshot, message, call)
    except JsonRpcError as exc:
        return _error(exc.http_status, exc, message.id)
    return McpReply(200, result_message(message.id, result))


async def _listen(
    request: McpRequest, principal: Principal, snapshot, message: Message, outlet: ResponseOutlet | None
) -> McpReply:
    """``subscriptions/listen``: the response is the stream, so the client must accept SSE (406 otherwise)."""
    if outlet is None or not outlet.can_stream:
        error = JsonRpcError(INVALID_REQUEST, f"Not Acceptable: subscriptions/listen needs 'Accept: {EVENT_STREAM}'.")
        return _error(406, error, message.id)
    conversation = Conversation(request.server_slug, request.headers.get("authorization"), principal)
    try:
        result = await listen_serve(
            conversation, snapshot, message.id, message.params, send=outlet.send, keepalive=outlet.keepalive
        )
    except JsonRpcError as exc:
        return _error(modern.http_status(exc.code), exc, message.id)
    return McpReply(200, result_message(message.id, modern.stamped(LISTEN_METHOD, result)))


def _initialize(principal: Principal, snapshot, message: Message) -> McpReply:
    try:
        result = initialize_result(snapshot, message.params)
    except JsonRpcError as exc:
        return _error(exc.http_status, exc, message.id)
    session = session_issue(
        principal=principal,
        server_slug=snapshot.server_slug,
        protocol_version=result["protocolVersion"],
        client_features=ClientFeatures.from_capabilities(message.params.get("capabilities")).bits,
    )
    return McpReply(200, result_message(message.id, result), {"Mcp-Session-Id": session.id})


@dataclass(frozen=True, slots=True)
class StandingStream:
    """A GET stream to open: the session's standing stream, or the resumption of one of its streams after
    ``resume_after`` (the sequence number of the last event the client saw)."""

    conversation: Conversation
    stream_id: str
    resume_after: int | None = None

    @property
    def nonce(self) -> str:
        return self.conversation.session.nonce

    @property
    def standing(self) -> bool:
        return event_store.is_standing(self.stream_id)


async def get(request: McpRequest) -> McpReply | StandingStream:
    """``GET``: open the session's server→client stream, or resume a stream with ``Last-Event-ID``."""
    authorization = request.headers.get("authorization")
    principal, _ = await authenticate(authorization, server_slug=request.server_slug)
    if principal is None:
        return unauthorized()
    if SESSION_HEADER not in request.headers:
        # Stateless clients have no server→client stream; handshake clients must name their session.
        if request.headers.get(VERSION_HEADER) in modern.MODERN_VERSIONS:
            return McpReply(405, headers={"Allow": "POST"})
        return _error(400, JsonRpcError(INVALID_REQUEST, "Bad Request: the Mcp-Session-Id header is required."))
    if EVENT_STREAM not in request.headers.get("accept", ""):
        return _error(406, JsonRpcError(INVALID_REQUEST, f"Not Acceptable: a GET stream needs 'Accept: {EVENT_STREAM}'."))
    session = _session_for(request, principal)
    if not isinstance(session, McpSession):
        return _error(session.http_status, session)
    conversation = Conversation(
        request.server_slug, authorization, principal, session, protocol_version=session.protocol_version,
        features=ClientFeatures.from_bits(session.client_features),
    )
    last_event_id = request.headers.get(LAST_EVENT_HEADER)
    if last_event_id is None:
        return StandingStream(conversation, event_store.stream_id_new(session.nonce, standing=True))
    resumed = event_store.event_id_parse(last_event_id, nonce=session.nonce)
    if resumed is None:
        return _error(400, JsonRpcError(INVALID_REQUEST, "Bad Request: Last-Event-ID names no stream of this session."))
    return StandingStream(conversation, *resumed)


async def delete(request: McpRequest) -> McpReply:
    principal, _ = await authenticate(request.headers.get("authorization"), server_slug=request.server_slug)
    if principal is None:
        return unauthorized()
    session_id = request.headers.get(SESSION_HEADER)
    if not session_id and request.headers.get(VERSION_HEADER) in modern.MODERN_VERSIONS:
        return McpReply(405, headers={"Allow": "POST"})
    if not session_id:
        return _error(400, JsonRpcError(INVALID_REQUEST, "Bad Request: the Mcp-Session-Id header is required."))
    session = session_resolve(session_id, principal=principal, server_slug=request.server_slug)
    if session is None:
        return _unknown_session()
    session_end(session)
    upstream_pool().release_client_session(session.nonce)
    return McpReply(204)
