"""Which endpoints a principal may open, before any session exists, and how often it may call them. Shared by every
transport."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from django.conf import settings

from catalog.selectors import AGGREGATE_SLUG
from config.ratelimits import count_hits, count_release, inflight_key, parse_rate, retry_after, window_key
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
    JSON-RPC error carrying ``retryAfterSeconds``. One round trip to the shared cache counts them all; every counter
    expires on its own, so a limit never outlives its window."""
    if getattr(principal, "anonymous", False):
        # Anonymous callers of a server share one budget, apart from the owner whose view they borrow.
        ident = f"a{principal.user_id}"
    else:
        ident = f"t{principal.token_id}" if principal.token_id else f"u{principal.user_id}"
    now = time.time()
    windows: list[tuple[str, str, int, float]] = []  # (scope, rate, limit, window end)
    counters: list[tuple[str, int]] = []
    rate = settings.GATEHOUSE_MCP_RATE_LIMIT
    if rate:
        limit, period = parse_rate("GATEHOUSE_MCP_RATE_LIMIT", rate)
        key, ttl, end = window_key(f"mcp:{ident}", period, now)
        windows.append(("requests per token", rate, limit, end))
        counters.append((key, ttl))
    tool_rate = settings.GATEHOUSE_MCP_TOOL_RATE_LIMIT
    if tool_rate and method == "tools/call" and isinstance(params.get("name"), str):
        tool = params["name"][:128]
        limit, period = parse_rate("GATEHOUSE_MCP_TOOL_RATE_LIMIT", tool_rate)
        key, ttl, end = window_key(f"mcp:{ident}:tool:{tool}", period, now)
        windows.append((f"calls of {tool} per token", tool_rate, limit, end))
        counters.append((key, ttl))
    max_inflight = settings.GATEHOUSE_MCP_MAX_CONCURRENT if method in _UPSTREAM_METHODS else 0
    slot = inflight_key(f"mcp:{ident}") if max_inflight else None
    if slot is not None:
        counters.append((slot, 2 * settings.GATEHOUSE_UPSTREAM_TIMEOUT_SECONDS + 60))
    counts = count_hits(counters) if counters else []
    refusal = next(
        (_rate_limited(scope, rate, retry_after(end, now))
         for (scope, rate, limit, end), count in zip(windows, counts) if count > limit),
        None,
    )
    if refusal is None and slot is not None and counts[-1] > max_inflight:
        refusal = _rate_limited("concurrent calls per token", str(max_inflight), 1)
    if refusal is not None:
        if slot is not None:
            count_release(slot)
        raise refusal
    try:
        yield
    finally:
        if slot is not None:
            count_release(slot)
