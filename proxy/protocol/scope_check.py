"""Endpoint-level refusals of a valid credential, answered before any catalog lookup (so they reveal nothing about
which servers, tools or resources exist):

- **insufficient scope**: the credential's permission scope excludes ``servers.use``, i.e. it may not use MCP at all
  (an API token or Gatehouse JWT whose permissions leave it out, an external OAuth access token without the ``mcp``
  scope). Answered 403 with ``WWW-Authenticate: Bearer error="insufficient_scope", scope="mcp", resource_metadata=…``
  (MCP authorization spec, RFC 6750 §3.1).
- a server-restricted token on the aggregate endpoint (proxy.protocol.admission.aggregate_refusal): 403.

Everything narrower (a tool, resource or prompt the credential may not use) stays "missing", as for any forbidden
object.
"""
from __future__ import annotations

from config.wellknown import www_authenticate
from proxy.protocol.admission import aggregate_refusal
from proxy.protocol.jsonrpc import INVALID_REQUEST, JsonRpcError
from proxy.protocol.replies import McpReply, error_reply
from teams import roles
from teams.principal import Principal
from tokens.oauth_issuer import MCP_SCOPE


def insufficient_scope(principal: Principal) -> McpReply | None:
    """The 403 for a credential that may not use MCP at all, or None."""
    if principal.anonymous or principal.permission_scope is None or roles.SERVERS_USE in principal.permission_scope:
        return None
    error = JsonRpcError(
        INVALID_REQUEST,
        f"Forbidden: this token lacks the '{MCP_SCOPE}' scope (Gatehouse permission '{roles.SERVERS_USE}') "
        "needed to use MCP.",
        data={"error": "insufficient_scope", "scope": MCP_SCOPE},
    )
    return error_reply(403, error, headers={
        "WWW-Authenticate": www_authenticate(error="insufficient_scope", scope=MCP_SCOPE),
    })


def endpoint_refusal(principal: Principal, server_slug: str, *, endpoint: str) -> McpReply | None:
    """Why ``principal`` may not open this MCP endpoint at all (see the module docstring), as the reply; or None."""
    refused = insufficient_scope(principal)
    if refused is not None:
        return refused
    refusal = aggregate_refusal(principal, server_slug, endpoint=endpoint)
    return error_reply(403, refusal) if refusal is not None else None
