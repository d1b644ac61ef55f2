"""Streamable HTTP semantics (handshake era), independent of the socket: a request in, a reply out."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from config.wellknown import www_authenticate
from proxy.protocol import modern, versions
from proxy.protocol.access import authenticate
from proxy.protocol.admission import aggregate_refusal
from proxy.protocol.handlers import CallContext, handle_request, initialize_result
from proxy.protocol.jsonrpc import (
    INVALID_REQUEST,
    JsonRpcError,
    Message,
    error_message,
    parse_message,
    result_message,
)
from proxy.sessions import session_end, session_issue, session_resolve
from proxy.snapshots import snapshot_for
from teams.principal import Principal

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"


@dataclass(frozen=True, slots=True)
class McpRequest:
    server_slug: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass(slots=True)
class McpReply:
    status: int
    message: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, error: JsonRpcError, request_id=None, headers: dict[str, str] | None = None) -> McpReply:
    return McpReply(status, error_message(request_id, error), headers or {})


def unauthorized() -> McpReply:
    return _error(
        401,
        JsonRpcError(INVALID_REQUEST, "Unauthorized: send 'Authorization: Bearer <token>' with a valid Gatehouse token."),
        headers={"WWW-Authenticate": www_authenticate()},
    )


def _unknown_server(request: McpRequest, request_id=None) -> McpReply:
    return _error(404, JsonRpcError(INVALID_REQUEST, f"Unknown server: {request.server_slug}"), request_id)


def _unknown_session(request_id=None) -> McpReply:
    return _error(404, JsonRpcError(INVALID_REQUEST, "Session not found: initialize a new session."), request_id)


async def post(request: McpRequest) -> McpReply:
    principal, version = await authenticate(request.headers.get("authorization"))
    if principal is None:
        return unauthorized()
    refusal = aggregate_refusal(principal, request.server_slug, endpoint="mcp")
    if refusal is not None:
        return _error(403, refusal)
    try:
        message = parse_message(request.body)
    except JsonRpcError as exc:
        return _error(exc.http_status, exc)
    if not message.is_request:
        return McpReply(202)
    if modern.is_modern(message, request.headers):
        return await _modern_post(request, principal, version, message)
    snapshot = await snapshot_for(principal, request.server_slug, version)
    if snapshot is None:
        return _unknown_server(request, message.id)
    if message.method == "initialize":
        return _initialize(principal, snapshot, message)
    session_id = request.headers.get(SESSION_HEADER)
    if not session_id:
        error = JsonRpcError(INVALID_REQUEST, "Bad Request: the Mcp-Session-Id header is required.")
        return _error(400, error, message.id)
    header_version = request.headers.get(VERSION_HEADER, versions.DEFAULT_HEADER_VERSION)
    if header_version not in versions.HANDSHAKE_VERSIONS:
        error = JsonRpcError(INVALID_REQUEST, f"Bad Request: unsupported MCP-Protocol-Version {header_version!r}.")
        return _error(400, error, message.id)
    session = session_resolve(session_id, principal=principal, server_slug=request.server_slug)
    if session is None:
        return _unknown_session(message.id)
    try:
        result = await handle_request(CallContext(principal, snapshot, session), message.method, message.params)
    except JsonRpcError as exc:
        return _error(exc.http_status, exc, message.id)
    return McpReply(200, result_message(message.id, result))


async def _modern_post(request: McpRequest, principal: Principal, version: int, message: Message) -> McpReply:
    error = modern.rejection(message, request.headers)
    if error is not None:
        return _error(error.http_status, error, message.id)
    snapshot = await snapshot_for(principal, request.server_slug, version)
    if snapshot is None:
        return _unknown_server(request, message.id)
    try:
        result = await modern.answer(principal, snapshot, message)
    except JsonRpcError as exc:
        return _error(exc.http_status, exc, message.id)
    return McpReply(200, result_message(message.id, result))


def _initialize(principal: Principal, snapshot, message: Message) -> McpReply:
    try:
        result = initialize_result(snapshot, message.params)
    except JsonRpcError as exc:
        return _error(exc.http_status, exc, message.id)
    session = session_issue(
        principal=principal, server_slug=snapshot.server_slug, protocol_version=result["protocolVersion"]
    )
    return McpReply(200, result_message(message.id, result), {"Mcp-Session-Id": session.id})


async def delete(request: McpRequest) -> McpReply:
    principal, _ = await authenticate(request.headers.get("authorization"))
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
    return McpReply(204)
