"""A request to an MCP HTTP endpoint and the reply to it, independent of the socket."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from config.wellknown import www_authenticate
from proxy.protocol.jsonrpc import INVALID_REQUEST, JsonRpcError, error_message


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


def error_reply(status: int, error: JsonRpcError, request_id=None, headers: dict[str, str] | None = None) -> McpReply:
    return McpReply(status, error_message(request_id, error), headers or {})


def unauthorized() -> McpReply:
    return error_reply(
        401,
        JsonRpcError(INVALID_REQUEST, "Unauthorized: send 'Authorization: Bearer <token>' with a valid Gatehouse token."),
        headers={"WWW-Authenticate": www_authenticate()},
    )
