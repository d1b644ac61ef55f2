"""Which endpoints a principal may open, before any session exists, and how often it may call them. Shared by every
transport."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from django.conf import settings

from catalog.selectors import AGGREGATE_SLUG
from config.ratelimits import Concurrency, parse_rate, window_hit
from proxy.protocol.jsonrpc import INVALID_REQUEST, JsonRpcError
from teams.principal import Principal


def aggregate_refusal(principal: Principal, server_slug: str, *, endpoint: str) -> JsonRpcError | None:
    """Why ``principal`` may not use the aggregate endpoint (``endpoint`` names the transport's path), or None.

    A token restricted to some virtual servers must name one: the aggregate endpoint would widen it.
    """
    if server_slug != AGGREGATE_SLUG or principal.server_ids is None:
        return None
    return JsonRpcError(
        INVALID_REQUEST, f"This token is restricted to specific virtual servers: use /servers/<slug>/{endpoint}."
    )


# --- rate limits (hardening) ---------------------------------------------------------------------------------------
RATE_LIMITED = -32029  # implementation-defined server error; 29 as in HTTP 429
# Methods that reach an upstream: they hold an in-flight slot while they run.
_UPSTREAM_METHODS = frozenset({"tools/call", "resources/read", "prompts/get", "completion/complete"})


def _rate_limited(scope: str, rate: str, retry_after: int) -> JsonRpcError:
    return JsonRpcError(
        RATE_LIMITED,
        f"Rate limit exceeded ({scope}: {rate}); retry after {retry_after}s.",
        data={"retryAfterSeconds": retry_after, "limit": rate, "scope": scope},
    )


@asynccontextmanager
async def admitted(principal: Principal, method: str, params: dict[str, Any]) -> AsyncIterator[None]:
    """Count one MCP request against the caller's limits (per token, per tool, in flight) or refuse it with a
    JSON-RPC error carrying ``retryAfterSeconds``. Counters live in the shared cache and expire on their own."""
    ident = f"t{principal.token_id}" if principal.token_id else f"u{principal.user_id}"
    rate = settings.GATEHOUSE_MCP_RATE_LIMIT
    if rate:
        wait = window_hit(f"mcp:{ident}", *parse_rate("GATEHOUSE_MCP_RATE_LIMIT", rate))
        if wait is not None:
            raise _rate_limited("requests per token", rate, wait)
    tool_rate = settings.GATEHOUSE_MCP_TOOL_RATE_LIMIT
    if tool_rate and method == "tools/call" and isinstance(params.get("name"), str):
        tool = params["name"][:128]
        wait = window_hit(f"mcp:{ident}:tool:{tool}", *parse_rate("GATEHOUSE_MCP_TOOL_RATE_LIMIT", tool_rate))
        if wait is not None:
            raise _rate_limited(f"calls of {tool} per token", tool_rate, wait)
    limit = settings.GATEHOUSE_MCP_MAX_CONCURRENT
    if not limit or method not in _UPSTREAM_METHODS:
        yield
        return
    slot = Concurrency(f"mcp:{ident}", limit, ttl=2 * settings.GATEHOUSE_UPSTREAM_TIMEOUT_SECONDS + 60)
    if not slot.enter():
        raise _rate_limited("concurrent calls per token", str(limit), 1)
    try:
        yield
    finally:
        slot.leave()
