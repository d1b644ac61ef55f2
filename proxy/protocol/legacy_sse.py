"""Legacy HTTP+SSE (2024-11-05) semantics, independent of the socket.

``GET …/sse`` opens a stream and a session; its first event names the URI the client POSTs its messages to. A POST
is checked here (credential, session, JSON-RPC framing) and answered 202 at once; the message then travels through
the channel layer to whichever process holds the session's stream, which answers on the stream.
"""
from __future__ import annotations

from urllib.parse import quote

from proxy.protocol import versions
from proxy.protocol.access import authenticate
from proxy.protocol.jsonrpc import INVALID_REQUEST, JsonRpcError, error_message, parse_message
from proxy.protocol.scope_check import endpoint_refusal
from proxy.protocol.session_messages import Conversation, conversation_open
from proxy.protocol.streamable import McpReply, McpRequest, unauthorized
from proxy.sessions import McpSession, session_issue, session_resolve

ENDPOINT = "sse"
# The revision that defined this transport; the in-band initialize still negotiates the version actually spoken.
SSE_REVISION = versions.HANDSHAKE_VERSIONS[0]


def stream_group(session: McpSession) -> str:
    """The channel-layer group of one session's stream: per session, never shared."""
    return f"mcp-sse.{session.nonce}"


def messages_uri(*, root_path: str, server_slug: str, session_id: str) -> str:
    """Where the client POSTs its messages (the data of the ``endpoint`` event): a path on this origin."""
    server = f"/servers/{server_slug}" if server_slug else ""
    return f"{root_path}{server}/messages/?session_id={quote(session_id, safe='')}"


async def stream_open(*, server_slug: str, authorization: str | None) -> Conversation:
    """The conversation of a new stream, with its session issued; raises ConversationRefused."""
    conversation = await conversation_open(server_slug=server_slug, authorization=authorization, endpoint=ENDPOINT)
    conversation.session = session_issue(
        principal=conversation.principal, server_slug=server_slug, protocol_version=SSE_REVISION
    )
    return conversation


def _error(status: int, message: str) -> McpReply:
    return McpReply(status, error_message(None, JsonRpcError(INVALID_REQUEST, message)))


async def message_accept(request: McpRequest, session_id: str | None) -> tuple[McpReply, McpSession | None]:
    """Check one POSTed message. On 202 the session is returned: forward the body to its stream."""
    principal, _ = await authenticate(request.headers.get("authorization"), server_slug=request.server_slug)
    if principal is None:
        return unauthorized(), None
    refused = endpoint_refusal(principal, request.server_slug, endpoint=ENDPOINT)
    if refused is not None:
        return refused, None
    if not session_id:
        return _error(400, "Bad Request: the session_id query parameter is required."), None
    session = session_resolve(session_id, principal=principal, server_slug=request.server_slug)
    if session is None:
        return _error(404, "Session not found: open a new stream."), None
    try:
        parse_message(request.body)
    except JsonRpcError as exc:
        return McpReply(400, error_message(None, exc)), None
    return McpReply(202), session
