"""MCP method handlers. Plain async functions of (context, params): no transport, no socket."""
from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from catalog.snapshot import CatalogSnapshot
from proxy.protocol import versions
from proxy.protocol.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError
from proxy.sessions import McpSession
from proxy.upstream.errors import UpstreamError
from proxy.upstream.pool import upstream_pool
from teams.principal import Principal

SERVER_VERSION = "0.1.0"

# Keys an upstream puts in a result that describe the upstream, not the answer; a client must not see them.
_UPSTREAM_ONLY_META = ("io.modelcontextprotocol/serverInfo",)


@dataclass(frozen=True, slots=True)
class CallContext:
    principal: Principal
    snapshot: CatalogSnapshot
    session: McpSession


Handler = Callable[[CallContext, dict[str, Any]], Awaitable[dict[str, Any]]]


def initialize_result(snapshot: CatalogSnapshot, params: dict[str, Any]) -> dict[str, Any]:
    """The answer to ``initialize``: the negotiated version, what this server offers, who it is."""
    requested = params.get("protocolVersion")
    if not isinstance(requested, str) or not isinstance(params.get("capabilities", {}), dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: initialize needs 'protocolVersion' and 'capabilities'.")
    return {
        "protocolVersion": versions.negotiate(requested),
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": {"name": "gatehouse", "title": snapshot.server_name, "version": SERVER_VERSION},
    }


async def ping(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return {}


def _page_start(params: dict[str, Any]) -> int:
    cursor = params.get("cursor")
    if cursor is None:
        return 0
    try:
        start = int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("o:"))
        if not cursor.isascii() or start < 0:
            raise ValueError
    except (ValueError, AttributeError, UnicodeError):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor.") from None
    return start


async def tools_list(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    start = _page_start(params)
    size = settings.GATEHOUSE_TOOLS_PAGE_SIZE
    listing = ctx.snapshot.tool_listing
    result: dict[str, Any] = {"tools": list(listing[start : start + size])}
    if start + size < len(listing):
        result["nextCursor"] = base64.urlsafe_b64encode(f"o:{start + size}".encode()).decode()
    return result


async def tools_call(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("name")
    arguments = params.get("arguments")
    if not isinstance(name, str):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: 'name' must be a string.")
    if arguments is not None and not isinstance(arguments, dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: 'arguments' must be an object.")
    route = ctx.snapshot.tools.get(name)
    if route is None:
        raise JsonRpcError(INVALID_PARAMS, f"Unknown tool: {name}")
    try:
        result = await upstream_pool().call_tool(route.upstream, route.original_name, arguments)
    except UpstreamError as exc:
        raise JsonRpcError(exc.code, str(exc), data=exc.data) from None
    return _relayed(result)


def _relayed(result: dict[str, Any]) -> dict[str, Any]:
    """A result as the handshake-era client should see it: without modern-only fields or upstream identity."""
    result.pop("resultType", None)
    meta = result.get("_meta")
    if meta:
        for key in _UPSTREAM_ONLY_META:
            meta.pop(key, None)
        if not meta:
            del result["_meta"]
    return result


HANDLERS: dict[str, Handler] = {
    "ping": ping,
    "tools/list": tools_list,
    "tools/call": tools_call,
}


async def handle_request(ctx: CallContext, method: str, params: dict[str, Any]) -> dict[str, Any]:
    handler = HANDLERS.get(method)
    if handler is None:
        raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
    return await handler(ctx, params)
