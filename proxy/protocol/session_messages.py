"""One handshake-era session bound to a live connection (a legacy SSE stream or a WebSocket), independent of the
socket: open it, then answer its messages one at a time.

The connection keeps the credential it was opened with (in this process's memory, never in a channel-layer message)
and every message re-checks it, so a revoked token or an ended session ends the conversation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proxy import relay
from proxy.protocol.access import authenticate
from proxy.protocol.admission import aggregate_refusal
from proxy.protocol.calls import ClientFeatures, DownstreamCall, Outlet
from proxy.protocol.handlers import CallContext, handle_request, initialize_result
from proxy.protocol.jsonrpc import INVALID_REQUEST, JsonRpcError, Message, error_message, result_message
from proxy.protocol.replies import McpReply, unauthorized
from proxy.protocol.scope_check import endpoint_refusal
from proxy.sessions import McpSession, session_issue, session_resolve
from proxy.snapshots import snapshot_for
from proxy.tracing import mcp_span, mcp_span_answered
from proxy.upstream.via import via_hops, via_refusal, via_scope
from teams.principal import Principal

# The spec lets a client ping before the handshake completes; everything else waits for initialize.
_BEFORE_INITIALIZE = frozenset({"initialize", "ping"})


@dataclass(slots=True)
class Conversation:
    server_slug: str
    authorization: str | None
    principal: Principal
    session: McpSession | None = None
    protocol_version: str | None = None
    features: ClientFeatures = ClientFeatures()
    # The connection itself: everything the upstream sends while answering goes straight to the client.
    outlet: Outlet | None = None
    # What carries it, for tracing: "http" (a legacy SSE stream and its POSTs) or "websocket".
    protocol: str = "http"

    @property
    def initialized(self) -> bool:
        return self.protocol_version is not None


class ConversationRefused(Exception):
    """The connection may not open; ``reply`` says why, in HTTP terms (401, 403 or 404)."""

    def __init__(self, reply: McpReply) -> None:
        super().__init__(reply.status)
        self.reply = reply


class ConversationEnded(Exception):
    """The token was revoked, the session ended or the server is gone: the transport closes the connection."""


async def conversation_open(*, server_slug: str, authorization: str | None, endpoint: str) -> Conversation:
    """A conversation for whoever ``authorization`` names on ``server_slug``; raises ConversationRefused."""
    principal, version = await authenticate(authorization, server_slug=server_slug)
    if principal is None:
        raise ConversationRefused(unauthorized())
    refused = endpoint_refusal(principal, server_slug, endpoint=endpoint)
    if refused is not None:
        raise ConversationRefused(refused)
    if await snapshot_for(principal, server_slug, version) is None:
        error = JsonRpcError(INVALID_REQUEST, f"Unknown server: {server_slug}")
        raise ConversationRefused(McpReply(404, error_message(None, error)))
    return Conversation(server_slug, authorization, principal)


async def conversation_check(conversation: Conversation) -> int:
    """Raise ConversationEnded unless the credential and the session still hold; returns the catalog version."""
    principal, version = await authenticate(conversation.authorization, server_slug=conversation.server_slug)
    if principal is None or principal.cache_key != conversation.principal.cache_key:
        raise ConversationEnded("The token is no longer valid.")
    if aggregate_refusal(principal, conversation.server_slug, endpoint="") is not None:
        raise ConversationEnded("The token is now restricted to specific virtual servers.")
    conversation.principal = principal
    session = conversation.session
    if session is not None:
        if session_resolve(session.id, principal=principal, server_slug=conversation.server_slug) is None:
            raise ConversationEnded("The session has ended.")
    return version


async def message_reply(conversation: Conversation, message: Message) -> dict[str, Any] | None:
    """The reply to one client message (None for notifications and responses); raises ConversationEnded."""
    version = await conversation_check(conversation)
    if not message.is_request:
        return None
    hops = via_hops(None, message.params)
    refusal = via_refusal(hops)
    if refusal is not None:
        return error_message(message.id, refusal)
    session = conversation.session
    with via_scope(hops), mcp_span(
        message.method, message.id, message.params, server_slug=conversation.server_slug,
        protocol=conversation.protocol, session_id=session.id if session is not None else None,
        protocol_version=conversation.protocol_version,
    ) as span:
        reply = await _request_reply(conversation, message, version)
        mcp_span_answered(span, reply, session_id=conversation.session.id if conversation.session else None)
        return reply


async def _request_reply(conversation: Conversation, message: Message, version: int) -> dict[str, Any]:
    snapshot = await snapshot_for(conversation.principal, conversation.server_slug, version)
    if snapshot is None:
        raise ConversationEnded(f"Unknown server: {conversation.server_slug}")
    try:
        if message.method == "initialize":
            return result_message(message.id, _initialize(conversation, snapshot, message.params))
        if not conversation.initialized and message.method not in _BEFORE_INITIALIZE:
            raise JsonRpcError(INVALID_REQUEST, "Invalid request: send 'initialize' before any other request.")
        session = conversation.session
        call = DownstreamCall.for_request(
            message.id, message.params, outlet=conversation.outlet,
            session_nonce=session.nonce if session is not None else None, features=conversation.features,
        )
        ctx = CallContext(conversation.principal, snapshot, session, call)
        with relay.call_scope(call):
            return result_message(message.id, await handle_request(ctx, message.method, message.params))
    except JsonRpcError as exc:
        return error_message(message.id, exc)


def _initialize(conversation: Conversation, snapshot, params: dict[str, Any]) -> dict[str, Any]:
    if conversation.initialized:
        raise JsonRpcError(INVALID_REQUEST, "Invalid request: this session is already initialized.")
    result = initialize_result(snapshot, params)
    conversation.protocol_version = result["protocolVersion"]
    conversation.features = ClientFeatures.from_capabilities(params.get("capabilities"))
    if conversation.session is None:
        conversation.session = session_issue(
            principal=conversation.principal,
            server_slug=conversation.server_slug,
            protocol_version=conversation.protocol_version,
            client_features=conversation.features.bits,
        )
    return result
