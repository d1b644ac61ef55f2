"""The stateless era (2026-07-28): no handshake, no session; every request carries its version and capabilities.

Validation reuses the official SDK's ladder (``mcp.shared.inbound``): envelope in ``params._meta``, routing headers
that agree with the body (-32020), a supported version (-32022). Results come from the same handlers as the
handshake era and are stamped with ``resultType``, Gatehouse's ``serverInfo`` and per-principal cache hints.
"""
from __future__ import annotations

from typing import Any

from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS, InboundLadderRejection, classify_inbound_request
from mcp.shared.inbound import validate_mcp_param_headers
from mcp_types import CLIENT_CAPABILITIES_META_KEY, PROTOCOL_VERSION_META_KEY, SERVER_INFO_META_KEY

from catalog.snapshot import CatalogSnapshot
from proxy.protocol.calls import ClientFeatures, DownstreamCall
from proxy.protocol.handlers import (
    RESOURCE_NOT_FOUND,
    SERVER_VERSION,
    CallContext,
    handle_request,
    server_capabilities,
)
from proxy.protocol.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError, Message
from teams.principal import Principal

MODERN_VERSIONS = ("2026-07-28",)
# Results that depend on who asks: clients may cache them for this principal only, and not for long.
# Removed in 2026-07-28 (subscriptions/listen replaces subscribe; logging is opted into per request).
_HANDSHAKE_ONLY = frozenset({"ping", "resources/subscribe", "resources/unsubscribe", "logging/setLevel"})
_CACHEABLE = frozenset({"server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list"})


def is_modern(message: Message, headers: dict[str, str]) -> bool:
    """A request of the stateless era: it says so in ``_meta`` or in the header, or it is ``server/discover``."""
    if "mcp-session-id" in headers:
        return False
    meta = message.params.get("_meta")
    return (
        message.method == "server/discover"
        or (isinstance(meta, dict) and PROTOCOL_VERSION_META_KEY in meta)
        or headers.get("mcp-protocol-version") in MODERN_VERSIONS
    )


def http_status(code: int) -> int:
    return ERROR_CODE_HTTP_STATUS.get(code, 200)


def rejection(message: Message, headers: dict[str, str]) -> JsonRpcError | None:
    """The first rule of the modern envelope this request breaks, or None."""
    body = {"jsonrpc": "2.0", "id": message.id, "method": message.method, "params": message.params}
    verdict = classify_inbound_request(body, headers=headers, supported_modern_versions=MODERN_VERSIONS)
    if isinstance(verdict, InboundLadderRejection):
        data = verdict.data
        if verdict.code == -32022:
            # The same list server/discover gives; handshake-era clients find their versions through initialize.
            data = {"supported": list(MODERN_VERSIONS), "requested": (data or {}).get("requested")}
        return JsonRpcError(verdict.code, verdict.message, data=data, http_status=http_status(verdict.code))
    return None


def client_features(message: Message) -> ClientFeatures:
    """What a stateless client says it can answer, in the request's ``_meta``."""
    meta = message.params.get("_meta")
    return ClientFeatures.from_capabilities(meta.get(CLIENT_CAPABILITIES_META_KEY) if isinstance(meta, dict) else None)


def param_header_rejection(snapshot: CatalogSnapshot, message: Message, headers: dict[str, str]) -> JsonRpcError | None:
    """``Mcp-Param-*`` headers must mirror the arguments the tool marks with ``x-mcp-header`` (-32020)."""
    if message.method != "tools/call":
        return None
    name, arguments = message.params.get("name"), message.params.get("arguments") or {}
    listing = next((tool for tool in snapshot.tool_listing if tool["name"] == name), None)
    if listing is None or not isinstance(arguments, dict):
        return None
    verdict = validate_mcp_param_headers(listing.get("inputSchema") or {}, arguments, headers)
    if verdict is None:
        return None
    return JsonRpcError(verdict.code, verdict.message, data=verdict.data, http_status=http_status(verdict.code))


def stamped(method: str, result: dict[str, Any]) -> dict[str, Any]:
    result["resultType"] = result.get("resultType", "complete")
    result["_meta"] = {
        **(result.get("_meta") or {}),
        SERVER_INFO_META_KEY: {"name": "gatehouse", "version": SERVER_VERSION},
    }
    if method in _CACHEABLE or method == "resources/read":
        result.setdefault("ttlMs", 0)
        result["cacheScope"] = "private"
    return result


def discover_result(snapshot: CatalogSnapshot) -> dict[str, Any]:
    capabilities = server_capabilities(snapshot)
    capabilities.pop("logging", None)
    # Changes reach a stateless client on its subscriptions/listen stream (proxy.protocol.listen); resource updates
    # when an MCP upstream behind the resources sends them (the acknowledgement lists the URIs actually honored).
    for kind in ("tools", "prompts"):
        if kind in capabilities:
            capabilities[kind] = {"listChanged": True}
    if "resources" in capabilities:
        subscribe = any(route.upstream.transport not in ("stdio", "rest") for route in snapshot.resources.values())
        capabilities["resources"] = {"subscribe": subscribe, "listChanged": True}
    return {"supportedVersions": list(MODERN_VERSIONS), "capabilities": capabilities}


async def answer(
    principal: Principal, snapshot: CatalogSnapshot, message: Message, call: DownstreamCall | None = None
) -> dict[str, Any]:
    """The result of one modern request (raises JsonRpcError with the HTTP status the spec asks for)."""
    if message.method == "server/discover":
        return stamped("server/discover", discover_result(snapshot))
    if message.method in _HANDSHAKE_ONLY:
        raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {message.method}", http_status=404)
    try:
        context = CallContext(principal, snapshot, None, call)
        result = await handle_request(context, message.method, message.params)
    except JsonRpcError as exc:
        if exc.code == RESOURCE_NOT_FOUND:
            # 2026-07-28 (SEP-2164): an unknown resource is invalid params, still naming the URI.
            exc.code = INVALID_PARAMS
        exc.http_status = http_status(exc.code)
        raise
    return stamped(message.method, result)
